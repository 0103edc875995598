#pragma once
/// The subcommands of the `sluice` program. Each registers itself and its options on the CLI11 app
/// and returns how to run it; `run` returns the process exit code.
#include <CLI/CLI.hpp>

#include <functional>

namespace sluice::cli {

struct command {
    CLI::App* subcommand;
    std::function<int()> run;
};

command add_filter_command(CLI::App& app);
command add_patch_command(CLI::App& app);
command add_serve_command(CLI::App& app);
command add_api_command(CLI::App& app);
command add_stage_command(CLI::App& app);
command add_token_command(CLI::App& app);
command add_dlq_command(CLI::App& app);
command add_new_command(CLI::App& app);
command add_tail_command(CLI::App& app);

/// Exit code for bad input (a malformed query, patch or document).
inline constexpr int exit_bad_input = 2;

}  // namespace sluice::cli
