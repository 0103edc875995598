#pragma once
// The queue, store and registry a process uses, as `[queue]`, `[store]` and `[registry]` choose
// them (DESIGN.md §10). The embedded ones live in the data directory.
#include <sluice/config/config.hpp>
#include <sluice/pipeline/device_hub.hpp>
#include <sluice/queue/queue.hpp>
#include <sluice/registry/registry.hpp>
#include <sluice/store/store.hpp>

#include <memory>

namespace sluice::cli {

struct backends {
    std::shared_ptr<queue::broker> queue;
    std::unique_ptr<store::store> store;
    std::unique_ptr<registry::registry> registry;
};

/// Opens the configured backends. Throws `config::config_error` for a backend this build cannot
/// open, and what the backend throws when it cannot be opened at all (e.g. an unusable data
/// directory).
backends open_backends(const config::config& c);

/// The device hub of this process. With the embedded registry: one process holds every device,
/// with its log in the data directory. With Redis: numbers, backlogs and the directory of sockets
/// are shared there (pipeline/device_log.hpp), and this process is websockets-transport instance
/// `instance`.
std::unique_ptr<pipeline::device_hub> open_device_hub(const config::config& c, const std::string& instance);

/// A name for this process among the instances of its stages: host, pid and a random part.
std::string instance_name();

/// Dead-letter administration of the configured queue (`sluice dlq`).
std::unique_ptr<queue::dead_letter_admin> open_dead_letter_admin(const config::config& c);

}  // namespace sluice::cli
