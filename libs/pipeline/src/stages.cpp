#include <sluice/channel/channel.hpp>
#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/pipeline/stages.hpp>

#include <boost/json/serialize.hpp>

#include <map>

namespace sluice::pipeline {

namespace bj = boost::json;
using registry::change_kind;

batch_handler make_writer(store::store& store, queue::queue& out, waiters& waiting) {
    return [&store, &out, &waiting](const std::vector<queue::message>& batch) {
        std::vector<verdict> verdicts(batch.size());
        std::vector<store::write_request> requests;
        std::vector<std::size_t> positions;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            try {
                requests.push_back(store::write_request::from_json(parse_json(batch[i].body, "writer message")));
                positions.push_back(i);
            } catch (const std::exception& e) {
                verdicts[i] = {false, e.what()};
            }
        }
        auto outcomes = store.apply_batch(requests);  // throws: transient, the batch is retried
        std::vector<std::string> envelopes;
        for (std::size_t k = 0; k < outcomes.size(); ++k) {
            if (outcomes[k].change) {
                envelopes.push_back(bj::serialize(outcomes[k].change->envelope));
            } else {
                try {
                    std::rethrow_exception(outcomes[k].failure);
                } catch (const std::exception& e) {
                    verdicts[positions[k]] = {false, e.what()};
                }
            }
        }
        if (!envelopes.empty()) out.publish_and_wait(queues::transport_manager, std::move(envelopes));
        for (std::size_t k = 0; k < outcomes.size(); ++k) {
            const auto& r = requests[k];
            auto key = waiters::document_key(r.app, r.model, r.id);
            if (outcomes[k].change) {
                const auto& after = outcomes[k].change->envelope.at("after");
                waiting.complete(r.op, key, after.is_object() ? &after.get_object() : nullptr, nullptr);
            } else {
                waiting.complete(r.op, key, nullptr, outcomes[k].failure);
            }
        }
        return verdicts;
    };
}

namespace {

bj::array channel_array(const std::vector<std::string>& channels) {
    bj::array a;
    for (const auto& c : channels) a.push_back(bj::value(c));
    return a;
}

}  // namespace

std::string frame_head_for(const bj::object& envelope, change_kind kind, const std::vector<std::string>& channels) {
    bj::value data;
    bj::object metadata{{"channels", channel_array(channels)}};
    switch (kind) {
        case change_kind::created:
        case change_kind::entered: {
            bj::object doc = envelope.at("after").as_object();
            doc["metadata"] = std::move(metadata);
            data = std::move(doc);
            break;
        }
        case change_kind::updated: {
            metadata["id"] = envelope.at("id");
            metadata["model"] = envelope.at("model");
            metadata["version"] = envelope.at("version");
            bj::array ops;
            for (const auto& op : envelope.at("patch").as_array()) {
                bj::object o = op.as_object();
                o["metadata"] = metadata;
                ops.push_back(std::move(o));
            }
            data = std::move(ops);
            break;
        }
        case change_kind::deleted:
        case change_kind::left: {
            data = bj::object{{"app", envelope.at("app")},         {"model", envelope.at("model")},
                              {"id", envelope.at("id")},           {"owner", envelope.at("owner")},
                              {"version", envelope.at("version")}, {"metadata", std::move(metadata)}};
            break;
        }
    }
    std::string head = "{\"event\":\"";
    head += registry::event_name(kind);
    head += "\",\"data\":";
    head += bj::serialize(data);
    head += ",\"seq\":";
    return head;
}

batch_handler make_transport_manager(registry::registry& registry, queue::queue& out) {
    return [&registry, &out](const std::vector<queue::message>& batch) {
        std::vector<verdict> verdicts(batch.size());
        std::vector<std::string> messages;
        std::vector<registry::route> routes;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            try {
                auto envelope = parse_json(batch[i].body, "transport-manager message").as_object();
                const auto& before = envelope.at("before");
                const auto& after = envelope.at("after");
                auto channels = channel::channels_for({envelope.at("app").as_string(), envelope.at("model").as_string(),
                                                       envelope.at("id").as_string(), envelope.at("owner").as_string()});
                routes.clear();
                registry.find(channels, before.is_null() ? nullptr : &before, after.is_null() ? nullptr : &after, routes);
                if (routes.empty()) continue;
                // Devices with the same event and channels share one serialized frame.
                std::map<std::pair<change_kind, std::vector<std::string>>, bj::array> groups;
                for (auto& r : routes) {
                    std::sort(r.channels.begin(), r.channels.end());
                    groups[{r.kind, r.channels}].push_back(bj::value(r.device));
                }
                bj::array deliveries;
                for (auto& [key, devices] : groups) {
                    deliveries.push_back(bj::object{{"devices", std::move(devices)},
                                                    {"head", frame_head_for(envelope, key.first, key.second)}});
                }
                messages.push_back(bj::serialize(bj::object{{"op", envelope.at("op")}, {"deliveries", std::move(deliveries)}}));
            } catch (const std::exception& e) {
                verdicts[i] = {false, std::string("malformed change envelope: ") + e.what()};
            }
        }
        if (!messages.empty()) out.publish_and_wait(queues::websockets, std::move(messages));
        return verdicts;
    };
}

batch_handler make_websocket_transport(device_hub& hub) {
    return [&hub](const std::vector<queue::message>& batch) {
        std::vector<verdict> verdicts(batch.size());
        std::vector<delivery> deliveries;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            try {
                auto message = parse_json(batch[i].body, "websockets-transport message").as_object();
                for (const auto& d : message.at("deliveries").as_array()) {
                    delivery out;
                    for (const auto& device : d.at("devices").as_array()) out.devices.emplace_back(device.as_string());
                    out.head = std::make_shared<const std::string>(d.at("head").as_string());
                    deliveries.push_back(std::move(out));
                }
            } catch (const std::exception& e) {
                verdicts[i] = {false, std::string("malformed delivery: ") + e.what()};
            }
        }
        hub.deliver(deliveries);
        return verdicts;
    };
}

}  // namespace sluice::pipeline
