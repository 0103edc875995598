// sluice: one program, many subcommands (DESIGN.md §7 "Command line").
#include "commands.hpp"

#include <iostream>

int main(int argc, char** argv) {
    CLI::App app{"Sluice: a real-time data pipeline for application backends"};
    app.require_subcommand(1);
    const sluice::cli::command commands[] = {
        sluice::cli::add_filter_command(app),
        sluice::cli::add_patch_command(app),
        sluice::cli::add_serve_command(app),
        sluice::cli::add_token_command(app),
        sluice::cli::add_dlq_command(app),
    };
    try {
        app.parse(argc, argv);
    } catch (const CLI::Success& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return sluice::cli::exit_bad_input;
    }
    for (const auto& c : commands) {
        if (c.subcommand->parsed()) return c.run();
    }
    return sluice::cli::exit_bad_input;
}
