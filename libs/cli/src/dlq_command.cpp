// `sluice dlq list|replay`: inspect and replay the dead letters of the stages' queues.
#include "commands.hpp"
#include "backends.hpp"
#include "config_options.hpp"

#include <sluice/core/error.hpp>
#include <sluice/queue/queue.hpp>

#include <boost/json/serialize.hpp>

#include <filesystem>
#include <iostream>

namespace sluice::cli {

command add_dlq_command(CLI::App& app) {
    struct dlq_options : config_options {
        std::string stage;
        std::vector<std::uint64_t> ids;
    };
    auto options = std::make_shared<dlq_options>();
    auto* sub = app.add_subcommand("dlq", "List or replay dead-lettered messages");
    sub->require_subcommand(1);
    auto* list = sub->add_subcommand("list", "Print dead letters as JSON lines {stage, id, reason, key, op, at, body}");
    list->add_option("--stage,--queue", options->stage, "Only this stage's (a stage's name is its queue's)");
    add_config_options(list, *options, false);
    auto* replay = sub->add_subcommand(
        "replay", "Put a stage's dead letters back at the end of its queue (a running server takes them within a second)");
    replay->add_option("--stage,--queue", options->stage, "The stage")->required();
    replay->add_option("--id", options->ids, "Only these dead letters (default: all of the stage)");
    add_config_options(replay, *options, false);
    return {sub, [options, list] {
                try {
                    auto config = resolve(*options);
                    if (!options->stage.empty() && !config.graph.has(options->stage))
                        throw invalid_input(errc::invalid_input, "no stage '" + options->stage + "' in the configuration");
                    auto admin = open_dead_letter_admin(config);
                    if (list->parsed()) {
                        for (const auto& m : admin->list(options->stage)) {
                            boost::json::object line{{"stage", m.queue}, {"queue", m.queue}, {"id", m.id},   {"reason", m.reason},
                                                     {"key", m.key},     {"op", m.headers.op}, {"at", m.at}, {"body", m.body}};
                            std::cout << boost::json::serialize(line) << "\n";
                        }
                        return 0;
                    }
                    auto report = admin->replay(options->stage, options->ids);
                    std::cout << report.replayed.size() << " message(s) replayed\n";
                    for (const auto& [id, why] : report.refused) std::cerr << "sluice: dead letter " << id << " not replayed: " << why << "\n";
                    return report.refused.empty() ? 0 : 1;
                } catch (const sluice::error& e) {
                    std::cerr << "sluice: " << e.what() << "\n";
                    return exit_bad_input;
                } catch (const std::exception& e) {
                    std::cerr << "sluice: " << e.what() << "\n";
                    return 1;
                }
            }};
}

}  // namespace sluice::cli
