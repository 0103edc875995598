#include "process.hpp"

#include "backends.hpp"

#include <sluice/auth/tokens.hpp>
#include <sluice/core/error.hpp>
#include <sluice/mqtt/transport.hpp>
#include <sluice/net/server.hpp>
#include <sluice/pipeline/stage_runner.hpp>
#include <sluice/pipeline/stages.hpp>
#include <sluice/reconcile/reconcilers.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>
#include <thread>

namespace sluice::cli {

namespace {

/// The message, escaped for a JSON string (spdlog has no JSON layout of its own).
class json_message_flag : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
        for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
            switch (c) {
                case '"': dest.append(std::string_view("\\\"")); break;
                case '\\': dest.append(std::string_view("\\\\")); break;
                case '\n': dest.append(std::string_view("\\n")); break;
                case '\t': dest.append(std::string_view("\\t")); break;
                default:
                    if (static_cast<unsigned char>(c) < 0x20) {
                        fmt::format_to(std::back_inserter(dest), "\\u{:04x}", static_cast<int>(c));
                    } else {
                        dest.push_back(c);
                    }
            }
        }
    }
    std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<json_message_flag>(); }
};

/// The stages from which `target` can be reached along configured `next` edges.
std::set<std::string> stages_leading_to(const config::graph_config& g, const std::string& target) {
    std::set<std::string> found;
    bool grew = true;
    while (grew) {
        grew = false;
        for (const auto& [name, stage] : g.stages) {
            if (found.count(name) || name == target) continue;
            for (const auto& n : stage.next) {
                if (n == target || found.count(n)) {
                    found.insert(name);
                    grew = true;
                    break;
                }
            }
        }
    }
    return found;
}

}  // namespace

void setup_logging(const config::config& c) {
    auto logger = spdlog::stderr_color_mt("sluice");
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(c.log_level));
    if (c.log_format == "json") {
        auto formatter = std::make_unique<spdlog::pattern_formatter>();
        formatter->add_flag<json_message_flag>('*').set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%*"})");
        spdlog::set_formatter(std::move(formatter));
    } else {
        spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    }
}

int run_process(const config::config& c, const process_plan& plan) {
    setup_logging(c);
    auto [host, port] = c.listen_endpoint();
    std::filesystem::path data(c.data_dir);

    auth::authenticator auth(c.apps);
    const auto schemas = schema::model_schemas::load(c);  // a bad schema stops start-up (exit 2)
    callout::hooks hooks(c);                              // so does a bad hook
    auto b = open_backends(c);
    const auto instance = instance_name();
    auto hub_owner = open_device_hub(c, instance);
    auto& hub = *hub_owner;
    pipeline::waiters waiters;
    metrics::metrics metrics;
    sluice::health health;

    pipeline::builtin_context builtins{c, schemas, hooks, *b.store, *b.registry, hub, waiters, metrics};
    std::vector<std::unique_ptr<pipeline::stage_runner>> runners;
    auto feeding_writer = stages_leading_to(c.graph, config::builtin::writer);
    for (const auto& name : plan.stages) {
        auto add_runner = [&] {
            runners.push_back(std::make_unique<pipeline::stage_runner>(b.queue, c.graph, name, c.limits.max_hops,
                                                                       pipeline::make_stage(c.graph.stage(name), builtins), metrics, health));
        };
        add_runner();
        // With shared device streams each websocket instance gets the frames of the devices it
        // holds, numbered, on its own queue. When custom stages sit between the transport manager
        // and the websocket stage, what they send on arrives on the stage's shared queue, to be
        // numbered and routed to the instances (stages.hpp).
        if (hub.shared() && name == config::builtin::websockets) {
            runners.back()->consume_instance_queue(instance);
            if (c.graph.stage(config::builtin::transport_manager).transports.at("websocket") != config::builtin::websockets) add_runner();
        }
        if (!feeding_writer.count(name)) continue;
        // A change a stage before the writer refuses or consumes never reaches it: tell the API,
        // here and, when the API may be another process, through the store (`recorded_outcome`).
        const bool shared_queue = c.backends.queue != config::queue_kind::embedded;
        runners.back()->on_abandoned([&waiters, &b, name, shared_queue](const queue::message& m, const std::string& reason) {
            if (reason.empty()) return waiters.abandon(m.headers.op, nullptr);
            error refusal(errc::rejected, "stage '" + name + "' refused the change: " + reason);
            if (shared_queue) {
                try {
                    b.store->record_refusal(m.headers.op, refusal);
                } catch (const std::exception& e) {  // a ?wait=1 elsewhere answers 202 at its timeout
                    spdlog::warn("stage {}: could not record the refusal of {}: {}", name, m.headers.op, e.what());
                }
            }
            waiters.abandon(m.headers.op, std::make_exception_ptr(refusal));
        });
    }
    metrics.on_scrape([&] {
        for (const auto& [name, stage] : c.graph.stages) metrics.stage(name).lag.Set(static_cast<double>(b.queue->stats(name).ready));
    });

    // MQTT devices hang on the device hub like sockets: served where the hub numbers frames itself.
    std::optional<mqtt::transport> mqtt;
    if (c.transports.mqtt && plan.api && plan.devices) {
        if (hub.shared())
            throw config::config_error("config key 'transports.mqtt': MQTT devices are served by `sluice serve` with the embedded queue and registry; the distributed shape does not carry them yet");
        mqtt.emplace(*c.transports.mqtt, hub, data / "mqtt.db", metrics, health, instance);
    }

    boost::asio::io_context io(1);
    const bool writer_here = std::find(plan.stages.begin(), plan.stages.end(), config::builtin::writer) != plan.stages.end();
    net::context ctx{c, schemas, hooks, auth, *b.store, *b.queue, *b.registry, hub, waiters, metrics, health, {plan.api, plan.devices, writer_here}};
    if (mqtt) {
        ctx.mqtt_credentials = [&mqtt](const std::string& app, const std::string& device) {
            auto granted = mqtt->register_device(app, device);
            return boost::json::object{{"url", granted.url}, {"username", granted.username}, {"password", granted.password}, {"topic", granted.topic}};
        };
    }
    std::optional<net::server> server;
    std::string base;
    if (plan.listen) {
        server.emplace(io, ctx);
        std::uint16_t bound;
        try {
            bound = server->start(host, port);
        } catch (const std::exception& e) {
            throw std::runtime_error("cannot listen on " + c.listen + ": " + e.what());
        }
        base = "http://" + host + ":" + std::to_string(bound);
    }
    // Reconcilers run beside the API (in every API process: a lease in the store picks one).
    std::optional<reconcile::reconcilers> reconcilers;
    if (plan.api && !c.reconcilers.empty()) reconcilers.emplace(c, *b.store, *b.queue, metrics, instance);
    for (auto& r : runners) r->start();
    if (reconcilers) reconcilers->start();

    std::string stages;
    for (const auto& s : plan.stages) stages += (stages.empty() ? "" : ", ") + s;
    spdlog::info("sluice {} (instance {}): stages [{}]{}{}", plan.name, instance, stages, base.empty() ? "" : ", listening on ", base);
    if (plan.api || plan.devices) {
        std::cout << "Sluice is serving on " << base;
        if (plan.devices) std::cout << "  (WebSocket: ws://" << host << ":" << base.substr(base.rfind(':') + 1) << "/v1/ws)";
        std::cout << "\n";
        if (mqtt)
            std::cout << "MQTT devices: POST " << base << "/v1/apps/{app}/devices/mqtt with a device's token for its broker credentials ("
                      << c.transports.mqtt->public_url << ")\n";
        if (plan.api && c.apps.count("demo"))
            std::cout << "Get a token: sluice token --app demo --user alice --device laptop --data " << c.data_dir << "\n";
    } else {
        std::cout << "Sluice stage process running [" << stages << "]" << (base.empty() ? "" : "; health on " + base + "/healthz") << "\n";
    }
    std::cout.flush();

    // Device streams close and requests in flight are answered while the stages still run (a
    // `?wait=1` needs the writer); then the stages settle what they hold, the queue writes what is
    // pending, and the event loop ends. A second signal exits at once.
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    std::thread stopper;
    auto stop_pipeline = [&] {
        stopper = std::thread([&] {
            if (reconcilers) reconcilers->stop();
            for (auto& r : runners) r->stop();
            if (mqtt) mqtt->stop();  // after the stages: what they delivered is published first
            b.queue->stop();
            io.stop();
        });
    };
    signals.async_wait([&](boost::system::error_code ec, int signal) {
        if (ec) return;
        spdlog::info("signal {}: stopping (a second one exits at once)", signal);
        signals.async_wait([](boost::system::error_code again, int) {
            if (!again) std::_Exit(1);
        });
        if (server) return server->stop(stop_pipeline);
        stop_pipeline();
    });
    io.run();
    if (stopper.joinable()) stopper.join();
    spdlog::info("stopped");
    return 0;
}

}  // namespace sluice::cli
