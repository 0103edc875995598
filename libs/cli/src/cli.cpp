// sluice: one program, many subcommands (DESIGN.md §7 "Command line").
#include "commands.hpp"

#include <sluice/cli/cli.hpp>

namespace sluice::cli {

int run(int argc, char** argv) {
    CLI::App app{"Sluice: a real-time data pipeline for application backends"};
    app.require_subcommand(1);
    const command commands[] = {
        add_filter_command(app), add_patch_command(app), add_serve_command(app), add_api_command(app),
        add_stage_command(app),  add_token_command(app), add_dlq_command(app),   add_new_command(app), add_tail_command(app),
    };
    try {
        app.parse(argc, argv);
    } catch (const CLI::Success& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return exit_bad_input;
    }
    for (const auto& c : commands) {
        if (c.subcommand->parsed()) return c.run();
    }
    return exit_bad_input;
}

}  // namespace sluice::cli
