#pragma once
/// The MQTT transport (DESIGN.md §11): devices that read their frames from an MQTT broker
/// (mosquitto with its dynamic-security plugin) rather than from a socket of Sluice's.
///
/// A device asks for broker credentials with its token (`register_device`): Sluice, as the
/// broker's dynamic-security administrator, creates a broker client for it whose only right is to
/// subscribe to its own topic `sluice/{app}/devices/{device}`. From then on the device is attached
/// to the device hub like a socket that never closes: it gets the same frames, with the same
/// sequence numbers, as the device's WebSocket or SSE streams, published with QoS 1 in `seq`
/// order; the broker's persistent session keeps them while the device is offline.
///
/// Nothing is lost while the broker is away or restarts: a frame counts as delivered once the
/// broker acknowledged it (PUBACK); on reconnection, and after a restart of Sluice, publishing
/// resumes after the last acknowledged frame from the device's backlog (a device whose backlog no
/// longer reaches back gets `resync_required`). Frames may then come twice: a device drops a
/// `seq` it has seen. Logging out deletes the device's broker client. Thread-safe.
#include <sluice/config/config.hpp>
#include <sluice/core/health.hpp>
#include <sluice/metrics/metrics.hpp>
#include <sluice/pipeline/device_hub.hpp>

#include <filesystem>
#include <memory>
#include <string>

namespace sluice::mqtt {

/// What a device needs to read its frames: `POST /v1/apps/{app}/devices/mqtt` answers these.
struct credentials {
    std::string url;  ///< the broker, as devices reach it (`transports.mqtt.public_url`)
    std::string username;
    std::string password;  ///< fresh on every call: the previous one stops working
    std::string topic;
};

class transport {
public:
    /// Connects to the broker (in the background, reconnecting) and resumes publishing to the
    /// devices registered before, whose state is kept in `state_file`.
    transport(const config::mqtt_config& c, pipeline::device_hub& hub, const std::filesystem::path& state_file,
              metrics::metrics& metrics, sluice::health& health, const std::string& instance);
    ~transport();
    transport(const transport&) = delete;
    transport& operator=(const transport&) = delete;

    /// Creates (or renews) the device's broker client and starts publishing its frames. Throws
    /// `invalid_input` when the app or device cannot be part of a topic (`/`, `+`, `#`), and
    /// `unavailable` when the broker cannot be reached or does not answer in time.
    credentials register_device(const std::string& app, const std::string& device);

    /// Waits (a few seconds at most) for the broker to acknowledge what was published, keeps how
    /// far each device got, and disconnects.
    void stop();

private:
    class impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace sluice::mqtt
