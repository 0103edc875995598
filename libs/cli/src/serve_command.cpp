// `sluice serve` (every stage in one process), `sluice api`, `sluice stage NAME` (one part of the
// distributed shape each: DESIGN.md §10) and `sluice token`.
#include "commands.hpp"
#include "config_options.hpp"
#include "process.hpp"

#include <sluice/auth/tokens.hpp>
#include <sluice/config/config.hpp>
#include <sluice/core/error.hpp>

#include <iostream>

namespace sluice::cli {

namespace {

/// Runs `run`, mapping a configuration error to exit 2 and any other start-up failure (cannot
/// listen, cannot open the data directory) to exit 1.
int guarded(const std::function<int()>& run) {
    try {
        return run();
    } catch (const config::config_error& e) {
        std::cerr << "sluice: " << e.what() << "\n";
        return exit_bad_input;
    } catch (const std::exception& e) {
        std::cerr << "sluice: " << e.what() << "\n";
        return 1;
    }
}

/// The embedded queue is a file one process owns: the processes of the distributed shape need a
/// queue they can share.
void require_shared_queue(const config::config& c, const std::string& command) {
    if (c.backends.queue == config::queue_kind::embedded)
        throw config::config_error("config key 'queue.kind': `sluice " + command +
                                   "` runs one part of the distributed shape and needs a queue the processes share "
                                   "(kind = \"rabbitmq\"); the embedded queue lives in one process: run `sluice serve`");
}

}  // namespace

command add_serve_command(CLI::App& app) {
    auto options = std::make_shared<config_options>();
    auto* sub = app.add_subcommand("serve", "Run the whole pipeline in one process (embedded shape by default)");
    add_config_options(sub, *options, true);
    return {sub, [options] {
                return guarded([&] {
                    auto c = resolve(*options);
                    process_plan plan{"serve", true, true, {}, true};
                    for (const auto& [name, stage] : c.graph.stages) plan.stages.push_back(name);
                    return run_process(c, plan);
                });
            }};
}

command add_api_command(CLI::App& app) {
    auto options = std::make_shared<config_options>();
    auto* sub = app.add_subcommand("api", "Run the HTTP API (distributed shape): it publishes changes to the graph");
    add_config_options(sub, *options, true);
    return {sub, [options] {
                return guarded([&] {
                    auto c = resolve(*options);
                    require_shared_queue(c, "api");
                    return run_process(c, {"api", true, false, {}, true});
                });
            }};
}

command add_stage_command(CLI::App& app) {
    struct stage_options : config_options {
        std::string stage;
    };
    auto options = std::make_shared<stage_options>();
    auto* sub = app.add_subcommand("stage", "Run one stage of the graph (distributed shape); websockets-transport also serves devices");
    sub->add_option("name", options->stage, "The stage: writer, transport-manager, websockets-transport or a [stages.NAME]")->required();
    add_config_options(sub, *options, true);
    return {sub, [options] {
                return guarded([&] {
                    bool listen_given = !options->listen.empty() || std::getenv("SLUICE_LISTEN") != nullptr;
                    auto c = resolve(*options);
                    if (!c.graph.has(options->stage))
                        throw config::config_error("no stage '" + options->stage + "' in the configuration (stages: " + [&] {
                            std::string names;
                            for (const auto& [name, st] : c.graph.stages) names += (names.empty() ? "" : ", ") + name;
                            return names;
                        }() + ")");
                    require_shared_queue(c, "stage");
                    // The websockets-transport serves devices, so it listens (on `listen` unless
                    // --listen says otherwise); any other stage listens for /healthz and /metrics
                    // when given an address.
                    bool devices = options->stage == config::builtin::websockets;
                    return run_process(c, {"stage " + options->stage, false, devices, {options->stage}, devices || listen_given});
                });
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
