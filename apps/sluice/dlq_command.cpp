// `sluice dlq list|replay`: inspect and replay dead-lettered messages of the embedded queue.
#include "commands.hpp"
#include "config_options.hpp"

#include <sluice/core/error.hpp>
#include <sluice/queue/queue.hpp>

#include <boost/json/serialize.hpp>

#include <filesystem>
#include <iostream>

namespace sluice::cli {

command add_dlq_command(CLI::App& app) {
    struct dlq_options : config_options {
        std::string queue;
    };
    auto options = std::make_shared<dlq_options>();
    auto* sub = app.add_subcommand("dlq", "List or replay dead-lettered messages");
    sub->require_subcommand(1);
    auto* list = sub->add_subcommand("list", "Print dead letters as JSON lines {queue, id, reason, body}");
    list->add_option("--queue", options->queue, "Only this queue (writer, transport-manager, websockets-transport)");
    add_config_options(list, *options, false);
    auto* replay = sub->add_subcommand("replay", "Put a queue's dead letters back at its end (a running server takes them within a second)");
    replay->add_option("--queue", options->queue, "The queue")->required();
    add_config_options(replay, *options, false);
    return {sub, [options, list] {
                try {
                    auto file = std::filesystem::path(resolve(*options).data_dir) / "queue.db";
                    if (list->parsed()) {
                        for (const auto& m : queue::list_embedded_dead_letters(file, options->queue)) {
                            boost::json::object line{{"queue", m.queue}, {"id", m.id}, {"reason", m.reason}, {"body", m.body}};
                            std::cout << boost::json::serialize(line) << "\n";
                        }
                        return 0;
                    }
                    std::cout << queue::replay_embedded_dead_letters(file, options->queue) << " message(s) replayed\n";
                    return 0;
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
