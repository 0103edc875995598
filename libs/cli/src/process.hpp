#pragma once
// One Sluice process: what `serve`, `api` and `stage NAME` have in common (DESIGN.md §1, §10).
// Each opens the configured backends, runs some stages of the graph, serves HTTP (some routes, and
// always /healthz and /metrics), and stops on SIGTERM without losing what it accepted.
#include <sluice/config/config.hpp>

#include <optional>
#include <string>
#include <vector>

namespace sluice::cli {

struct process_plan {
    std::string name;                 ///< for the log: "serve", "api", "stage writer"
    bool api = false;                 ///< serves the HTTP API
    bool devices = false;             ///< serves /v1/ws and /v1/sse (the websockets-transport)
    std::vector<std::string> stages;  ///< the stages this process runs
    bool listen = true;               ///< serves HTTP on `listen`; false: no socket at all
};

/// Runs until SIGINT/SIGTERM, then drains and returns the exit code.
int run_process(const config::config& c, const process_plan& plan);

void setup_logging(const config::config& c);

}  // namespace sluice::cli
