#include "backends.hpp"

#include <filesystem>

namespace sluice::cli {

namespace {

namespace fs = std::filesystem;

[[noreturn]] void not_built(const std::string& key, const std::string& kind) {
    throw config::config_error("config key '" + key + "': this build of sluice cannot open a " + kind + " backend yet");
}

}  // namespace

backends open_backends(const config::config& c) {
    fs::path data(c.data_dir);
    fs::create_directories(data);
    backends b;
    switch (c.backends.queue) {
        case config::queue_kind::embedded: b.queue = queue::open_embedded((data / "queue.db").string()); break;
        case config::queue_kind::rabbitmq: not_built("queue.kind", "rabbitmq");
    }
    switch (c.backends.store) {
        case config::store_kind::sqlite: b.store = store::open_sqlite(data / "store.db"); break;
        case config::store_kind::postgres: not_built("store.kind", "postgres");
    }
    switch (c.backends.registry) {
        case config::registry_kind::embedded: b.registry = registry::open_embedded(data / "registry.db"); break;
        case config::registry_kind::redis: not_built("registry.kind", "redis");
        case config::registry_kind::redis_cluster: not_built("registry.kind", "redis-cluster");
    }
    return b;
}

std::unique_ptr<queue::dead_letter_admin> open_dead_letter_admin(const config::config& c) {
    switch (c.backends.queue) {
        case config::queue_kind::embedded: return queue::open_embedded_admin((fs::path(c.data_dir) / "queue.db").string());
        case config::queue_kind::rabbitmq: not_built("queue.kind", "rabbitmq");
    }
    not_built("queue.kind", "unknown");
}

}  // namespace sluice::cli
