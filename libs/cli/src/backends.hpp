#pragma once
// The queue, store and registry a process uses, as `[queue]`, `[store]` and `[registry]` choose
// them (DESIGN.md §10). The embedded ones live in the data directory.
#include <sluice/config/config.hpp>
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

/// Dead-letter administration of the configured queue (`sluice dlq`).
std::unique_ptr<queue::dead_letter_admin> open_dead_letter_admin(const config::config& c);

}  // namespace sluice::cli
