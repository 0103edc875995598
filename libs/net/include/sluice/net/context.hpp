#pragma once
/// Everything the HTTP API and the WebSocket transport use, built once by `sluice serve`.
#include <sluice/auth/tokens.hpp>
#include <sluice/config/config.hpp>
#include <sluice/core/health.hpp>
#include <sluice/metrics/metrics.hpp>
#include <sluice/pipeline/device_hub.hpp>
#include <sluice/pipeline/waiters.hpp>
#include <sluice/queue/queue.hpp>
#include <sluice/registry/registry.hpp>
#include <sluice/store/store.hpp>

namespace sluice::net {

struct context {
    const config::config& config;
    const auth::authenticator& auth;
    store::store& store;
    queue::broker& queue;
    registry::registry& registry;
    pipeline::device_hub& hub;
    pipeline::waiters& waiters;
    metrics::metrics& metrics;
    sluice::health& health;
};

}  // namespace sluice::net
