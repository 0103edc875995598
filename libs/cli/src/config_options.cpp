#include "config_options.hpp"

#include <filesystem>

namespace sluice::cli {

void add_config_options(CLI::App* sub, config_options& o, bool server) {
    sub->add_option("--config", o.config_file, "TOML configuration file (default: ./sluice.toml when it exists)");
    sub->add_option("--data", o.data_dir, "Data directory (default ./sluice-data)");
    if (server) {
        sub->add_option("--listen", o.listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
        sub->add_option("--log-format", o.log_format, "text or json")->check(CLI::IsMember({"text", "json"}));
    }
}

config::config resolve(const config_options& o) {
    std::string file = o.config_file;
    if (file.empty() && std::filesystem::exists("sluice.toml")) file = "sluice.toml";
    auto c = config::load(file);
    if (!o.listen.empty()) c.listen = o.listen;
    if (!o.data_dir.empty()) c.data_dir = o.data_dir;
    if (!o.log_format.empty()) c.log_format = o.log_format;
    c.listen_endpoint();
    if (c.apps.empty()) c.apps["demo"] = config::app_config{"demo", config::demo_secret(c.data_dir), {}, {}};
    return c;
}

}  // namespace sluice::cli
