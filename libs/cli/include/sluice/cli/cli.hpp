#pragma once
/// The `sluice` program as a library (DESIGN.md §7 "Command line"), so that a program with its own
/// C++ stages is a full `sluice` too:
///
/// ```cpp
/// #include <sluice/cli/cli.hpp>
/// #include <sluice/pipeline/stage.hpp>
/// int main(int argc, char** argv) {
///     sluice::pipeline::register_stage("shout", [](const sluice::pipeline::stage_request& r) { ... });
///     return sluice::cli::run(argc, argv);
/// }
/// ```
/// and `[stages.shout] kind = "cpp"` in its configuration.
namespace sluice::cli {

/// Parses the command line, runs the subcommand, returns the process exit code (2: bad input or
/// configuration).
int run(int argc, char** argv);

}  // namespace sluice::cli
