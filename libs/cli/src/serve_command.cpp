// `sluice serve` (the embedded shape: one process) and `sluice token`.
#include "commands.hpp"
#include "config_options.hpp"

#include <sluice/auth/tokens.hpp>
#include <sluice/config/config.hpp>
#include <sluice/core/error.hpp>
#include <sluice/net/server.hpp>
#include <sluice/pipeline/stage_runner.hpp>
#include <sluice/pipeline/stages.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <iostream>
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

int serve(const config_options& options) {
    auto c = resolve(options);
    setup_logging(c);
    std::filesystem::create_directories(c.data_dir);
    auto [host, port] = c.listen_endpoint();
    namespace fs = std::filesystem;
    fs::path data(c.data_dir);

    auth::authenticator auth(c.apps);
    auto queue = queue::open_embedded((data / "queue.db").string());
    auto store = store::open_sqlite(data / "store.db");
    auto registry = registry::open_embedded(data / "registry.db");
    pipeline::device_hub hub(data / "devices.db", c.limits.resume_backlog, c.limits.grace_period);
    pipeline::waiters waiters;
    metrics::metrics metrics;
    sluice::health health;

    // Every stage of the graph, built-in or custom, runs here (the embedded shape).
    pipeline::builtin_context builtins{c, *store, *registry, hub, waiters};
    std::vector<std::unique_ptr<pipeline::stage_runner>> runners;
    auto feeding_writer = stages_leading_to(c.graph, config::builtin::writer);
    for (const auto& [name, stage] : c.graph.stages) {
        runners.push_back(std::make_unique<pipeline::stage_runner>(queue, c.graph, name, c.limits.max_hops,
                                                                   pipeline::make_stage(stage, builtins), metrics, health));
        if (!feeding_writer.count(name)) continue;
        // A change a stage before the writer refuses or consumes never reaches it: tell the API.
        runners.back()->on_abandoned([&waiters, name](const queue::message& m, const std::string& reason) {
            waiters.abandon(m.headers.op, reason.empty() ? nullptr
                                                         : std::make_exception_ptr(error(errc::rejected, "stage '" + name +
                                                                                                          "' refused the change: " + reason)));
        });
    }
    metrics.on_scrape([&] {
        for (const auto& [name, stage] : c.graph.stages) metrics.stage(name).lag.Set(static_cast<double>(queue->stats(name).ready));
    });

    boost::asio::io_context io(1);
    net::context ctx{c, auth, *store, *queue, *registry, hub, waiters, metrics, health};
    net::server server(io, ctx);
    std::uint16_t bound;
    try {
        bound = server.start(host, port);
    } catch (const std::exception& e) {
        throw std::runtime_error("cannot listen on " + c.listen + ": " + e.what());
    }
    for (auto& r : runners) r->start();

    std::string base = "http://" + host + ":" + std::to_string(bound);
    spdlog::info("listening on {} (data in {})", base, c.data_dir);
    std::cout << "Sluice is serving on " << base << "  (WebSocket: ws://" << host << ":" << bound << "/v1/ws)\n";
    if (c.apps.count("demo")) {
        std::cout << "Get a token: sluice token --app demo --user alice --device laptop --data " << c.data_dir << "\n";
    }
    std::cout.flush();

    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    std::thread stopper;
    signals.async_wait([&](boost::system::error_code ec, int signal) {
        if (ec) return;
        spdlog::info("signal {}: stopping (a second one exits at once)", signal);
        signals.async_wait([](boost::system::error_code again, int) {
            if (!again) std::_Exit(1);
        });
        // Device streams close and requests in flight are answered while the stages still run
        // (a `?wait=1` needs the writer); then the stages settle what they hold, the queue writes
        // what is pending, and the event loop ends.
        server.stop([&] {
            stopper = std::thread([&] {
                for (auto& r : runners) r->stop();
                queue->stop();
                io.stop();
            });
        });
    });
    io.run();
    if (stopper.joinable()) stopper.join();
    spdlog::info("stopped");
    return 0;
}

}  // namespace

command add_serve_command(CLI::App& app) {
    auto options = std::make_shared<config_options>();
    auto* sub = app.add_subcommand("serve", "Run the whole pipeline in one process (embedded shape)");
    add_config_options(sub, *options, true);
    return {sub, [options] {
                try {
                    return serve(*options);
                } catch (const config::config_error& e) {
                    std::cerr << "sluice: " << e.what() << "\n";
                    return exit_bad_input;
                } catch (const std::exception& e) {  // cannot listen, cannot open the data directory, ...
                    std::cerr << "sluice: " << e.what() << "\n";
                    return 1;
                }
            }};
}

command add_token_command(CLI::App& app) {
    struct token_options : config_options {
        std::string app, user, device;
        long ttl = 3600;
    };
    auto options = std::make_shared<token_options>();
    auto* sub = app.add_subcommand("token", "Print a development access token for a user's device");
    sub->add_option("--app", options->app, "App")->required();
    sub->add_option("--user", options->user, "User id (the token's sub)")->required();
    sub->add_option("--device", options->device, "Device id")->required();
    sub->add_option("--ttl", options->ttl, "Lifetime in seconds (default 3600)")->check(CLI::PositiveNumber);
    add_config_options(sub, *options, false);
    return {sub, [options] {
                try {
                    auto c = resolve(*options);
                    auth::authenticator auth(c.apps);
                    std::cout << auth.mint(options->app, options->user, options->device, std::chrono::seconds(options->ttl)) << "\n";
                    return 0;
                } catch (const config::config_error& e) {
                    std::cerr << "sluice: " << e.what() << "\n";
                    return exit_bad_input;
                }
            }};
}

}  // namespace sluice::cli
