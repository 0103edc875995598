#pragma once
// The configuration flags `serve`, `token` and `dlq` share, and how they resolve into a config.
#include <sluice/config/config.hpp>

#include <CLI/CLI.hpp>

#include <string>

namespace sluice::cli {

struct config_options {
    std::string config_file;
    std::string listen;
    std::string data_dir;
    std::string log_format;
};

/// --config and --data; for the server also --listen and --log-format.
void add_config_options(CLI::App* sub, config_options& o, bool server);

/// File (--config, else ./sluice.toml when present), then SLUICE_* environment, then flags. With no
/// app configured, app `demo` with the secret kept in the data directory.
config::config resolve(const config_options& o);

}  // namespace sluice::cli
