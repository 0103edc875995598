#pragma once
/// Everything the HTTP API and the WebSocket transport use, built once by `sluice serve`.
#include <sluice/auth/tokens.hpp>
#include <sluice/callout/hooks.hpp>
#include <sluice/config/config.hpp>
#include <sluice/core/health.hpp>
#include <sluice/metrics/metrics.hpp>
#include <sluice/pipeline/device_hub.hpp>
#include <sluice/pipeline/waiters.hpp>
#include <sluice/queue/queue.hpp>
#include <sluice/registry/registry.hpp>
#include <sluice/schema/model_schemas.hpp>
#include <sluice/store/store.hpp>

#include <boost/json/object.hpp>

#include <functional>
#include <string>

namespace sluice::net {

/// What a process serves besides /healthz and /metrics: `sluice serve` both, `sluice api` the HTTP
/// API, `sluice stage websockets-transport` the device streams (DESIGN.md §10).
struct roles {
    bool api = true;      ///< /v1/apps/..., /v1/logout
    bool devices = true;  ///< /v1/ws, /v1/sse
    /// The writer runs in this process: a `?wait=1` learns its verdict directly. Otherwise the API
    /// reads the verdict the writer recorded in the store.
    bool writer_here = true;
};

struct context {
    const config::config& config;
    const schema::model_schemas& schemas;
    const callout::hooks& hooks;
    const auth::authenticator& auth;
    store::store& store;
    queue::broker& queue;
    registry::registry& registry;
    pipeline::device_hub& hub;
    pipeline::waiters& waiters;
    metrics::metrics& metrics;
    sluice::health& health;
    roles serves{};
    /// Set when MQTT devices are served (`[transports.mqtt]`): the broker credentials of a device,
    /// `{url, username, password, topic}` (`POST /v1/apps/{app}/devices/mqtt`).
    std::function<boost::json::object(const std::string& app, const std::string& device)> mqtt_credentials{};
};

}  // namespace sluice::net
