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
#include <vector>

namespace sluice::config {

class config_error : public error {
public:
    explicit config_error(const std::string& message) : error(errc::config_error, message) {}
};

/// Who may read and change a model's documents.
enum class access { app, owner };  ///< app: any user of the app; owner: only the document's owner

enum class stage_kind { builtin, exec, webhook, cpp };

/// User code Sluice calls with one JSON object and that answers one (DESIGN.md §9: hooks, the
/// checks and fix of a reconciler), by the means of custom stages.
struct callout_config {
    stage_kind kind = stage_kind::exec;  ///< exec | webhook | cpp
    std::vector<std::string> command;    ///< exec
    std::string url;                     ///< webhook
    std::string function;                ///< cpp: the registered name
    std::chrono::milliseconds timeout{5000};  ///< `timeout_ms`: per call
    std::size_t instances = 1;           ///< exec: child processes answering at once
    std::string name;                    ///< a reconciler's check: its `name` (default: its position, 1-based)
};

/// `[[apps.A.models.M.hooks]]`: user code run, in the order configured, at points of the API.
struct hook_config {
    std::vector<std::string> on;  ///< "before:create", "after:get", ... (when:operation)
    callout_config call;
};

/// `[apps.A.models.M]`.
struct model_config {
    access who = access::app;  ///< `access`
    std::string schema_file;   ///< `schema_file`: the JSON Schema (draft 7) of its documents, or empty
    std::vector<hook_config> hooks;
};

struct app_config {
    std::string name;
    std::string secret;      ///< HS256 shared secret, or empty
    std::string public_key;  ///< RS256 public key (PEM), or empty; exactly one of the two is set
    std::map<std::string, model_config> models;  ///< models not listed: access `app`, no schema

    access access_of(const std::string& model) const {
        auto it = models.find(model);
        return it == models.end() ? access::app : it->second.who;
    }
};

struct limits_config {
    std::size_t max_body_bytes = 1 << 20;           ///< larger request bodies get 413
    std::size_t send_queue_bytes = 4 << 20;         ///< per socket; past it the socket is closed 4008
    std::size_t resume_backlog = 1000;              ///< messages kept per device for resume
    std::chrono::seconds grace_period{60};          ///< how long a disconnected device is kept
    std::chrono::milliseconds wait_timeout{10000};  ///< `?wait=1` gives up (202 if durable) after this
    std::size_t max_hops = 32;                      ///< stages a message may pass; past it: dead letter `hop limit`
    std::size_t max_queue_depth = 100000;           ///< ready messages in a queue the API publishes to; past it 503 `overloaded`
    std::size_t subscriptions_per_device = 1000;    ///< past it a subscribe is `too_many_subscriptions`
};

/// The built-in stages (DESIGN.md §8); a stage's name is the name of the queue it consumes.
namespace builtin {
inline const std::string writer = "writer";
inline const std::string transport_manager = "transport-manager";
inline const std::string websockets = "websockets-transport";
bool is_builtin(const std::string& stage) noexcept;
}  // namespace builtin

/// What happens to a message that failed `max_attempts` times because of itself.
enum class failure_policy { dead_letter, drop, forward };  ///< TOML: "dead-letter" | "drop" | "continue"

/// `[stages.NAME]` (DESIGN.md §8).
/// `[listeners.NAME]` (DESIGN.md §9): the changes a listener gets. A listener is a custom stage
/// that the writer feeds with the envelopes of these changes, and whose replies only settle them.
struct listener_selection {
    std::string app, model;
    std::vector<std::string> events;  ///< of created, updated (PUT), patched, removed; empty: all
    std::string filter;               ///< the filter as JSON text (on `after`; `before` for removed), or empty
};

struct stage_config {
    std::string name;
    std::optional<listener_selection> listener;  ///< set: this stage is a listener
    stage_kind kind = stage_kind::builtin;
    std::vector<std::string> next;  ///< where outcomes `next` go by default
    std::size_t instances = 1;      ///< consumers in this process
    std::size_t prefetch = 64;      ///< unsettled messages per instance
    std::size_t max_attempts = 10;
    std::chrono::milliseconds first_backoff{100}, max_backoff{60000};
    failure_policy on_failure = failure_policy::dead_letter;
    std::chrono::milliseconds timeout{10000};       ///< exec, webhook: per message
    std::vector<std::string> command;               ///< exec
    std::string url;                                ///< webhook
    std::string function;                           ///< cpp: the registered name (default: the stage's name)
    std::map<std::string, std::string> transports;  ///< transport-manager: transport -> stage receiving its frames
};

/// The stage graph: where the API publishes, and every stage (built-ins always present).
struct graph_config {
    std::vector<std::string> api_next{builtin::writer};
    std::map<std::string, stage_config> stages;

    const stage_config& stage(const std::string& name) const;  ///< throws std::out_of_range
    bool has(const std::string& name) const { return stages.count(name) != 0; }
};

/// `[reconcilers.NAME]` (DESIGN.md §9): the documents of a model checked again and again.
struct reconciler_config {
    std::string name, app, model;
    std::string filter;  ///< the filter as JSON text, or empty
    std::chrono::seconds interval{60};  ///< `interval_seconds`: a document is due once its last sync is this old
    std::size_t concurrency = 4;        ///< checks running at once
    std::chrono::seconds lease{10};     ///< `lease_seconds`: how long a holder that stopped renewing keeps the lease
    std::vector<callout_config> checks;
    std::optional<callout_config> fix;
};

/// `[queue]`, `[store]`, `[registry]` (DESIGN.md §10): which engines back the pipeline. The
/// embedded ones are the default; the others make the distributed shape.
enum class queue_kind { embedded, rabbitmq };
enum class store_kind { sqlite, postgres };
enum class registry_kind { embedded, redis, redis_cluster };

struct backends_config {
    queue_kind queue = queue_kind::embedded;
    std::string queue_url;       ///< rabbitmq: amqp://user:password@host:port/vhost
    std::size_t partitions = 1;  ///< rabbitmq: queues per stage (per-document order with many instances)
    store_kind store = store_kind::sqlite;
    std::string store_url;  ///< postgres: postgresql://user@host:port/database
    registry_kind registry = registry_kind::embedded;
    std::vector<std::string> registry_urls;  ///< redis: one URL; redis-cluster: seed nodes
};

/// `[http]`.
struct http_config {
    /// `cors_origins`: browser origins (scheme://host[:port]) allowed to call the API and open
    /// SSE and WebSocket streams from another origin; `*`: any. Empty: same-origin only.
    std::vector<std::string> cors_origins;
};

/// `[transports.mqtt]` (DESIGN.md §11): the broker MQTT devices read from. Sluice holds the
/// broker's dynamic-security administrator: with it, it creates one client per device (allowed to
/// read its own topic only) and publishes the devices' frames.
struct mqtt_config {
    std::string url;             ///< mqtt://host[:port] (default port 1883), where Sluice connects
    std::string public_url;      ///< what devices are told to connect to; default: `url`
    std::string admin_username;  ///< the dynamic-security administrator
    std::string admin_password;
};

/// `[transports]`: transports beyond WebSocket/SSE (always on).
struct transports_config {
    std::optional<mqtt_config> mqtt;  ///< set: MQTT devices are served
};

struct config {
    std::string listen = "127.0.0.1:8080";
    std::string data_dir = "./sluice-data";
    std::string log_format = "text";  ///< text | json
    std::string log_level = "info";
    limits_config limits;
    http_config http;
    transports_config transports;
    std::map<std::string, app_config> apps;  ///< empty: `serve` creates app `demo`
    graph_config graph;
    std::map<std::string, reconciler_config> reconcilers;
    backends_config backends;

    /// Host and port of `listen`; throws `config_error` when malformed.
    std::pair<std::string, std::uint16_t> listen_endpoint() const;
};

/// Reads `path` (if not empty) over the defaults, then applies `SLUICE_*` overrides from the
/// environment, then checks the stage graph (unknown stage names, cycles of built-in stages).
/// Throws `config_error` naming the key.
config load(const std::string& path);

/// The HS256 secret of app `demo` kept in `data_dir` (created, random, on first use), used when no
/// app is configured.
std::string demo_secret(const std::string& data_dir);

}  // namespace sluice::config
