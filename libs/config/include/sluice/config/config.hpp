#pragma once
/// Sluice's configuration: one TOML file (`--config`, default `sluice.toml` when present), then
/// `SLUICE_*` environment variables, then command-line flags. Every key is documented in
/// docs/configuration.md. A bad key or value stops start-up with `config_error` naming it.
#include <sluice/core/error.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace sluice::config {

class config_error : public error {
public:
    explicit config_error(const std::string& message) : error("config_error", message) {}
};

/// Who may read and change a model's documents.
enum class access { app, owner };  ///< app: any user of the app; owner: only the document's owner

struct app_config {
    std::string name;
    std::string secret;      ///< HS256 shared secret, or empty
    std::string public_key;  ///< RS256 public key (PEM), or empty; exactly one of the two is set
    std::map<std::string, access> models;  ///< per-model access; models not listed use `app`

    access access_of(const std::string& model) const {
        auto it = models.find(model);
        return it == models.end() ? access::app : it->second;
    }
};

struct limits_config {
    std::size_t max_body_bytes = 1 << 20;           ///< larger request bodies get 413
    std::size_t send_queue_bytes = 4 << 20;         ///< per socket; past it the socket is closed 4008
    std::size_t resume_backlog = 1000;              ///< messages kept per device for resume
    std::chrono::seconds grace_period{60};          ///< how long a disconnected device is kept
    std::chrono::milliseconds wait_timeout{10000};  ///< `?wait=1` gives up (202) after this
    std::size_t subscriptions_per_device = 1000;    ///< past it a subscribe is `too_many_subscriptions`
};

struct config {
    std::string listen = "127.0.0.1:8080";
    std::string data_dir = "./sluice-data";
    std::string log_format = "text";  ///< text | json
    std::string log_level = "info";
    limits_config limits;
    std::map<std::string, app_config> apps;  ///< empty: `serve` creates app `demo`

    /// Host and port of `listen`; throws `config_error` when malformed.
    std::pair<std::string, std::uint16_t> listen_endpoint() const;
};

/// Reads `path` (if not empty) over the defaults, then applies `SLUICE_*` overrides from the
/// environment. Throws `config_error`.
config load(const std::string& path);

/// The HS256 secret of app `demo` kept in `data_dir` (created, random, on first use), used when no
/// app is configured.
std::string demo_secret(const std::string& data_dir);

}  // namespace sluice::config
