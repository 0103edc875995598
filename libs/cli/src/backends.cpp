#include "backends.hpp"

#include <sluice/amqp/broker.hpp>
#include <sluice/pg/store.hpp>
#include <sluice/redis/device_streams.hpp>
#include <sluice/redis/registry.hpp>

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <random>

namespace sluice::cli {

namespace {

namespace fs = std::filesystem;

amqp::rabbitmq_options rabbitmq_options_of(const config::config& c) {
    amqp::rabbitmq_options o;
    o.url = c.backends.queue_url;
    o.partitions = c.backends.partitions;
    for (const auto& [name, stage] : c.graph.stages) {
        o.queues.push_back(name);
        if (stage.listener) o.shared_work.insert(name);  // its instances split the events
    }
    return o;
}

}  // namespace

backends open_backends(const config::config& c) {
    fs::path data(c.data_dir);
    fs::create_directories(data);
    backends b;
    // The distributed backends connect in the background: one that cannot be reached at start-up
    // is retried and reported on /healthz, not a reason to exit.
    switch (c.backends.queue) {
        case config::queue_kind::embedded: b.queue = queue::open_embedded((data / "queue.db").string()); break;
        case config::queue_kind::rabbitmq: b.queue = amqp::open_rabbitmq(rabbitmq_options_of(c)); break;
    }
    switch (c.backends.store) {
        case config::store_kind::sqlite: b.store = store::open_sqlite(data / "store.db"); break;
        case config::store_kind::postgres: {
            pg::postgres_options o;
            o.url = c.backends.store_url;
            b.store = pg::open_postgres(o);
            break;
        }
    }
    switch (c.backends.registry) {
        case config::registry_kind::embedded: b.registry = registry::open_embedded(data / "registry.db"); break;
        case config::registry_kind::redis:
        case config::registry_kind::redis_cluster: {
            redis::redis_options o;
            o.urls = c.backends.registry_urls;
            o.cluster = c.backends.registry == config::registry_kind::redis_cluster;
            b.registry = redis::open_redis_registry(o);
            break;
        }
    }
    return b;
}

std::unique_ptr<pipeline::device_hub> open_device_hub(const config::config& c, const std::string& instance) {
    if (c.backends.registry == config::registry_kind::embedded)
        return std::make_unique<pipeline::device_hub>(fs::path(c.data_dir) / "devices.db", c.limits.resume_backlog, c.limits.grace_period);
    redis::device_streams_options o;
    o.urls = c.backends.registry_urls;
    o.cluster = c.backends.registry == config::registry_kind::redis_cluster;
    o.backlog = c.limits.resume_backlog;
    o.grace_period = c.limits.grace_period;
    auto streams = redis::open_redis_device_streams(o);
    return std::make_unique<pipeline::device_hub>(pipeline::shared_streams{streams.log, streams.directory, instance},
                                                  c.limits.grace_period);
}

std::string instance_name() {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    std::string name;
    for (const char* p = host; *p; ++p) {
        name += std::isalnum(static_cast<unsigned char>(*p)) || *p == '-' ? *p : '-';
    }
    std::random_device rd;
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "%06x", rd() & 0xffffff);
    return (name.empty() ? "sluice" : name) + "-" + std::to_string(::getpid()) + "-" + suffix;
}

std::unique_ptr<queue::dead_letter_admin> open_dead_letter_admin(const config::config& c) {
    switch (c.backends.queue) {
        case config::queue_kind::embedded: break;
        case config::queue_kind::rabbitmq: return amqp::open_rabbitmq_admin(rabbitmq_options_of(c));
    }
    return queue::open_embedded_admin((fs::path(c.data_dir) / "queue.db").string());
}

}  // namespace sluice::cli
