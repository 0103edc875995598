#include <sluice/channel/channel.hpp>
#include <sluice/core/error.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/json/filter.hpp>
#include <sluice/pipeline/stages.hpp>

#include "numbered_routing.hpp"

#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

namespace sluice::pipeline {

namespace bj = boost::json;
using registry::change_kind;

namespace {

std::string reason_of(std::exception_ptr failure) {
    try {
        std::rethrow_exception(failure);
    } catch (const std::exception& e) {
        return e.what();
    }
}

class writer_stage final : public stage {
public:
    writer_stage(store::store& store, const config::config& c, const schema::model_schemas& schemas, const callout::hooks& hooks,
                 waiters& waiting)
        : store_(store), config_(c), schemas_(schemas), hooks_(hooks), waiting_(waiting), next_(c.graph.stage(config::builtin::writer).next) {
        for (const auto& [name, stage] : c.graph.stages) {
            if (!stage.listener) continue;
            const auto& sel = *stage.listener;
            listeners_.push_back({name, sel, sel.filter.empty() ? std::nullopt
                                                                : std::optional(json::filter::compile(parse_json(sel.filter, "listener filter")))});
        }
    }

    std::size_t batch_size() const override { return 256; }

    std::vector<outcome> handle(const std::vector<queue::message>& batch) override {
        std::vector<outcome> outcomes(batch.size());
        std::vector<store::write_request> requests;
        std::vector<std::size_t> positions;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            try {
                auto r = store::write_request::from_json(parse_json(batch[i].body, "writer message"));
                const auto* app = config_.apps.count(r.app) ? &config_.apps.at(r.app) : nullptr;
                r.require_owner = app && app->access_of(r.model) == config::access::owner;
                // Checked again here, on the version the change meets (the API checked the one it saw).
                if (const auto* schema = schemas_.find(r.app, r.model)) {
                    r.check_document = [schema, what = "document '" + r.id + "'"](const bj::object& fields) {
                        schema->check(fields, what);
                    };
                }
                requests.push_back(std::move(r));
                positions.push_back(i);
            } catch (const std::exception& e) {
                outcomes[i] = outcome::dead(e.what());
            }
        }
        auto results = store_.apply_batch(requests);  // throws: the store is down, the batch comes again
        for (std::size_t k = 0; k < results.size(); ++k) {
            const auto& r = requests[k];
            // A `?wait=1` is answered once the change and its envelope are durable.
            auto& o = outcomes[positions[k]];
            if (results[k].change) {
                const auto& envelope = results[k].change->envelope;
                after_hooks(r, envelope);
                o = route(envelope);
                const auto& after = envelope.at("after");
                auto document = std::make_shared<bj::object>(after.is_object() ? after.get_object() : bj::object{});
                o.on_settled = [&waiting = waiting_, op = r.op, document, applied = after.is_object()] {
                    waiting.complete(op, applied ? document.get() : nullptr, nullptr);
                };
            } else {
                o = outcome::dead(reason_of(results[k].failure));
                o.on_settled = [&waiting = waiting_, op = r.op, failure = results[k].failure] { waiting.complete(op, nullptr, failure); };
            }
        }
        return outcomes;
    }

private:
    /// The after-hooks of a write run once it is applied (again if the change is redelivered). The
    /// change stands whatever they answer: a failure is logged.
    void after_hooks(const store::write_request& r, const bj::object& envelope) const {
        using kind = store::write_request::kind;
        const char* point = r.type == kind::create ? "after:create" : r.type == kind::replace ? "after:update" : r.type == kind::update ? "after:patch" : "after:remove";
        if (!hooks_.has(r.app, r.model, point)) return;
        const auto& after = envelope.at("after");
        bj::value result = after.is_object() ? after : bj::value(bj::object{{"id", r.id}, {"deleted", true}});
        try {
            hooks_.run(point, bj::object{{"app", r.app}, {"model", r.model}, {"id", r.id}, {"user", r.actor}}, "result", std::move(result));
        } catch (const std::exception& e) {
            spdlog::warn("writer: {} hook of {}/{} '{}' (op {}): {}", point, r.app, r.model, r.id, r.op, e.what());
        }
    }

    struct listener {
        std::string name;
        config::listener_selection selection;
        std::optional<json::filter> filter;
    };

    /// The envelope to the writer's `next`, and to each listener whose selection it meets.
    outcome route(const bj::object& envelope) const {
        std::vector<std::string> to = next_;
        for (const auto& l : listeners_) {
            if (selects(l, envelope)) to.push_back(l.name);
        }
        if (to.empty()) return outcome{};  // nothing to publish: acked
        return outcome::forward(bj::serialize(envelope), std::move(to));
    }

    static bool selects(const listener& l, const bj::object& envelope) {
        if (envelope.at("app").as_string() != l.selection.app || envelope.at("model").as_string() != l.selection.model) return false;
        if (!l.selection.events.empty()) {
            const auto event = listener_event(envelope);
            if (std::find(l.selection.events.begin(), l.selection.events.end(), event) == l.selection.events.end()) return false;
        }
        if (!l.filter) return true;
        const auto& after = envelope.at("after");
        return l.filter->matches(after.is_null() ? envelope.at("before") : after);
    }

    store::store& store_;
    const config::config& config_;
    const schema::model_schemas& schemas_;
    const callout::hooks& hooks_;
    waiters& waiting_;
    std::vector<std::string> next_;
    std::vector<listener> listeners_;
};

/// A listener (DESIGN.md §9): the custom stage it runs, whose replies only settle the event:
/// `next` and `done` both ack it and forward nothing.
class listener_stage final : public stage {
public:
    explicit listener_stage(std::unique_ptr<stage> inner) : inner_(std::move(inner)) {}

    std::vector<outcome> handle(const std::vector<queue::message>& batch) override {
        auto outcomes = inner_->handle(batch);
        for (auto& o : outcomes) {
            if (o.what == outcome::action::forward) o = outcome::done();
        }
        return outcomes;
    }
    std::size_t batch_size() const override { return inner_->batch_size(); }
    void stop() override { inner_->stop(); }

private:
    std::unique_ptr<stage> inner_;
};

}  // namespace

stage_factory make_writer(store::store& store, const config::config& c, const schema::model_schemas& schemas, const callout::hooks& hooks,
                          waiters& waiting) {
    return [&store, &c, &schemas, &hooks, &waiting](std::size_t) { return std::make_unique<writer_stage>(store, c, schemas, hooks, waiting); };
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
    head += "\",\"op\":";
    head += bj::serialize(envelope.at("op"));
    head += ",\"data\":";
    head += bj::serialize(data);
    head += ",\"seq\":";
    return head;
}

namespace {

/// With shared streams, whether the transport manager numbers the frames itself: only when it
/// sends them straight to the websocket stage. Custom stages in between (`transports.websocket`)
/// may edit them, so the websocket stage's shared queue numbers what they send on.
bool numbers_frames(const device_hub& hub, const std::string& websocket_target) {
    return hub.shared() && websocket_target == config::builtin::websockets;
}

class transport_manager_stage final : public stage {
public:
    transport_manager_stage(registry::registry& registry, std::string websocket_target, const device_hub& hub, metrics::metrics& metrics)
        : registry_(registry), websocket_target_(std::move(websocket_target)), metrics_(metrics) {
        if (numbers_frames(hub, websocket_target_)) numbering_.emplace(*hub.shared(), websocket_target_);
    }

    std::size_t batch_size() const override { return 256; }

    std::vector<outcome> handle(const std::vector<queue::message>& batch) override {
        std::vector<outcome> outcomes(batch.size());
        // Every subscription acknowledged before these changes were written must take part.
        registry_.catch_up();  // an outage throws: the runner pauses, nothing is dead-lettered
        for (std::size_t i = 0; i < batch.size(); ++i) {
            try {
                outcomes[i] = route(batch[i].body, i);
            } catch (const unavailable&) {
                throw;  // the registry or the device log is down: the runner pauses, nothing is dead-lettered
            } catch (const std::exception& e) {
                outcomes[i] = outcome::dead(std::string("malformed change envelope: ") + e.what());
            }
        }
        if (numbering_) numbering_->route(outcomes);
        return outcomes;
    }

private:
    /// Routes one change: matched devices, grouped so that devices with the same event and
    /// channels share one serialized frame. When this stage numbers frames they are only
    /// collected here (into `numbering_`) and numbered for the whole batch at once.
    outcome route(const std::string& body, std::size_t index) {
        auto envelope = parse_json(body, "transport-manager message").as_object();
        const auto& before = envelope.at("before");
        const auto& after = envelope.at("after");
        auto channels = channel::channels_for({envelope.at("app").as_string(), envelope.at("model").as_string(),
                                               envelope.at("id").as_string(), envelope.at("owner").as_string()});
        routes_.clear();
        registry_.find(channels, before.is_null() ? nullptr : &before, after.is_null() ? nullptr : &after, routes_);
        outcome o;
        o.messages.push_back({body, {}, {}, {}});  // the envelope, to the configured next (if any)
        if (routes_.empty()) return o;
        auto text = [&](const char* key) { return std::string(envelope.at(key).as_string()); };
        metrics_.record_delivery({now_ms(), text("event"), text("app"), text("model"), text("id"), text("op"), routes_.size()});
        std::map<std::pair<change_kind, std::vector<std::string>>, bj::array> groups;
        for (auto& r : routes_) {
            std::sort(r.channels.begin(), r.channels.end());
            groups[{r.kind, r.channels}].push_back(bj::value(r.device));
        }
        if (numbering_) {
            std::vector<device_log::frame> frames;  // all or none of them join the batch's
            for (auto& [key, devices] : groups) {
                auto& f = frames.emplace_back(device_log::frame{{}, frame_head_for(envelope, key.first, key.second)});
                for (const auto& d : devices) f.devices.emplace_back(d.as_string());
            }
            numbering_->add(index, envelope.at("op"), std::move(frames));
            return o;
        }
        bj::array deliveries;
        for (auto& [key, devices] : groups) {
            deliveries.push_back(bj::object{{"devices", std::move(devices)}, {"head", frame_head_for(envelope, key.first, key.second)}});
        }
        o.messages.push_back({bj::serialize(bj::object{{"op", envelope.at("op")}, {"deliveries", std::move(deliveries)}}),
                              {websocket_target_}, {}, {}});
        return o;
    }

    registry::registry& registry_;
    std::string websocket_target_;
    metrics::metrics& metrics_;
    std::optional<numbered_routing> numbering_;
    std::vector<registry::route> routes_;
};

class websocket_stage final : public stage {
public:
    explicit websocket_stage(device_hub& hub) : hub_(hub) {
        if (hub.shared()) numbering_.emplace(*hub.shared(), config::builtin::websockets);
    }

    std::size_t batch_size() const override { return 256; }

    /// Without shared streams: `{op, deliveries: [{devices, head}]}`, sequenced and sent here.
    /// With them, an instance queue holds `{op, deliveries: [{head, targets}]}` numbered for this
    /// instance's sockets, and the shared queue (fed by custom stages after the transport manager)
    /// holds unnumbered batches, numbered and routed to the instances from here.
    std::vector<outcome> handle(const std::vector<queue::message>& batch) override {
        std::vector<outcome> outcomes(batch.size(), outcome::done());
        std::vector<delivery> deliveries;
        std::vector<numbered_delivery> numbered;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            try {
                auto message = parse_json(batch[i].body, "websockets-transport message").as_object();
                std::vector<delivery> unnumbered;
                std::vector<numbered_delivery> with_numbers;
                for (const auto& d : message.at("deliveries").as_array()) {
                    auto head = std::make_shared<const std::string>(d.at("head").as_string());
                    if (const auto* targets = d.as_object().if_contains("targets"); targets && numbering_) {
                        auto& out = with_numbers.emplace_back(numbered_delivery{head, {}});
                        for (const auto& t : targets->as_array()) {
                            const auto& pair = t.as_array();
                            out.targets.emplace_back(std::string(pair.at(0).as_string()), pair.at(1).to_number<std::uint64_t>());
                        }
                    } else {
                        auto& out = unnumbered.emplace_back(delivery{{}, head, batch[i].redelivered});
                        for (const auto& device : d.at("devices").as_array()) out.devices.emplace_back(device.as_string());
                    }
                }
                if (!numbering_) {
                    std::move(unnumbered.begin(), unnumbered.end(), std::back_inserter(deliveries));
                } else if (!unnumbered.empty()) {
                    std::vector<device_log::frame> frames;
                    for (auto& d : unnumbered) frames.push_back({std::move(d.devices), *d.head});
                    numbering_->add(i, message.at("op"), std::move(frames));
                    outcomes[i] = outcome{};  // acked once the numbered frames are published
                }
                std::move(with_numbers.begin(), with_numbers.end(), std::back_inserter(numbered));
            } catch (const std::exception& e) {
                outcomes[i] = outcome::dead(std::string("malformed delivery: ") + e.what());
            }
        }
        if (numbering_) {
            numbering_->route(outcomes);        // throws unavailable("devices"): the batch comes again
            hub_.deliver_numbered(numbered);    // likewise
            return outcomes;
        }
        try {
            hub_.deliver(deliveries);
        } catch (const std::exception& e) {
            throw unavailable("devices", std::string("device log write failed: ") + e.what());
        }
        return outcomes;
    }

private:
    device_hub& hub_;
    std::optional<numbered_routing> numbering_;
};

class cpp_stage final : public stage {
public:
    cpp_stage(std::string name, const stage_function& fn) : name_(std::move(name)), fn_(fn) {}

    std::vector<outcome> handle(const std::vector<queue::message>& batch) override {
        std::vector<outcome> outcomes;
        for (const auto& m : batch) {
            try {
                stage_request request{name_, m.attempt, parse_json(m.body, "message"), &m};
                outcomes.push_back(fn_(request).to_outcome(m.body));
            } catch (const std::exception& e) {
                outcomes.push_back(outcome::retry(std::string("stage function failed: ") + e.what()));
            }
        }
        return outcomes;
    }

private:
    std::string name_;
    const stage_function& fn_;
};

}  // namespace

stage_factory make_transport_manager(registry::registry& registry, const config::stage_config& c, device_hub& hub, metrics::metrics& metrics) {
    auto target = c.transports.count("websocket") ? c.transports.at("websocket") : config::builtin::websockets;
    return [&registry, target, &hub, &metrics](std::size_t) {
        return std::make_unique<transport_manager_stage>(registry, target, hub, metrics);
    };
}

stage_factory make_websocket_transport(device_hub& hub) {
    return [&hub](std::size_t) { return std::make_unique<websocket_stage>(hub); };
}

stage_factory make_cpp_stage(const config::stage_config& c) {
    const auto* fn = registered_stage(c.function);
    if (fn == nullptr)
        throw config::config_error("config key 'stages." + c.name + ".function': no C++ stage function is registered as '" +
                                   c.function + "' in this program");
    return [name = c.name, fn](std::size_t) { return std::make_unique<cpp_stage>(name, *fn); };
}

std::string listener_event(const bj::object& envelope) {
    const std::string_view event = envelope.at("event").as_string();
    if (event == "model_created") return "created";
    if (event == "model_deleted") return "removed";
    const auto* replaced = envelope.if_contains("replaced");
    return replaced && replaced->is_bool() && replaced->get_bool() ? "updated" : "patched";
}

stage_factory make_stage(const config::stage_config& c, builtin_context& b) {
    if (c.listener) {
        // The custom stage keeps a reference to its configuration: this copy lives with the factory.
        auto custom = std::make_shared<config::stage_config>(c);
        custom->listener.reset();
        return [custom, inner = make_stage(*custom, b)](std::size_t instance) -> std::unique_ptr<stage> {
            return std::make_unique<listener_stage>(inner(instance));
        };
    }
    switch (c.kind) {
        case config::stage_kind::exec: return make_exec_stage(c);
        case config::stage_kind::webhook: return make_webhook_stage(c);
        case config::stage_kind::cpp: return make_cpp_stage(c);
        case config::stage_kind::builtin: break;
    }
    if (c.name == config::builtin::writer) return make_writer(b.store, b.config, b.schemas, b.hooks, b.waiting);
    if (c.name == config::builtin::transport_manager) return make_transport_manager(b.registry, c, b.hub, b.metrics);
    if (c.name == config::builtin::websockets) return make_websocket_transport(b.hub);
    throw config::config_error("config key 'stages." + c.name + "': unknown built-in stage");
}

}  // namespace sluice::pipeline
