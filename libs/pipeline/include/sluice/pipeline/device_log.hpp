#pragma once
/// Device streams shared by every process of the distributed shape (DESIGN.md §6 "Devices", §10).
///
/// In one process (`sluice serve`) the device hub numbers frames as it sends them and keeps each
/// device's backlog itself. With several websockets-transport instances a device may reconnect to
/// any of them, so the numbering and the backlog live in a shared store and the transport manager
/// writes them before it routes a frame:
///
/// 1. the transport manager appends the frame to each device's stream (`device_log::append`: the
///    device's next number, or the number it already has when the same (op, event) is in its
///    backlog, so a redelivered change gets the same numbers again), then
/// 2. asks the directory which instance holds each device's socket and sends the numbered frames
///    to that instance's own queue (devices with no socket get nothing more: the backlog has it);
/// 3. an instance sends a device's frames in number order: one it already sent is skipped, and a
///    gap (frames of two transport managers crossing) is filled from the log.
///
/// A device that connects registers in the directory before it reads the log: a frame appended
/// after that read is routed to the new instance, one appended before it is in what it read.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::pipeline {

/// `{"event":E,"op":O` of a frame head: what makes two frames the same delivery.
inline std::string_view frame_identity(std::string_view head) {
    auto data = head.find(",\"data\":");
    return data == std::string_view::npos ? head : head.substr(0, data);
}

/// Per-device numbered streams with a bounded backlog. Thread-safe; every call is durable when it
/// returns; a backend outage throws `sluice::unavailable("devices", ...)`.
class device_log {
public:
    virtual ~device_log() = default;

    /// A frame head (see `frame_head_for`) for some devices.
    struct frame {
        std::vector<std::string> devices;
        std::string head;
    };
    /// Appends each frame, in order, to the stream of each of its devices, or finds the number it
    /// has when the device's backlog already holds a frame of the same (op, event). Returns, per
    /// frame, one number per device in order. Keeps each backlog to the configured length and
    /// forgets a device untouched for longer than the grace period. Several frames in one call
    /// cost one round trip to the backend, not one each.
    virtual std::vector<std::vector<std::uint64_t>> append(const std::vector<frame>& frames) = 0;

    struct read_result {
        std::uint64_t seq = 0;         ///< the device's last number
        bool resync_required = false;  ///< `after` is older than the backlog reaches
        std::vector<std::pair<std::uint64_t, std::string>> frames;  ///< numbered heads after `after`, in order
    };
    /// The device's last number and, with `after`, what follows it.
    virtual read_result read(const std::string& device, std::optional<std::uint64_t> after) = 0;
};

/// Which websockets-transport instance holds each device's socket. Thread-safe; a backend outage
/// throws `sluice::unavailable("devices", ...)`.
class device_directory {
public:
    virtual ~device_directory() = default;
    /// `instance` holds a socket of `device` (the latest attach wins).
    virtual void attach(const std::string& device, const std::string& instance) = 0;
    /// `instance` no longer holds one (no effect when another instance attached since).
    virtual void detach(const std::string& device, const std::string& instance) = 0;
    /// The instance holding each device, or an empty string: none, or one that stopped beating.
    virtual std::vector<std::string> locate(const std::vector<std::string>& devices) = 0;
    /// An instance says it is alive; one silent for longer than `ttl` is considered gone.
    virtual void beat(const std::string& instance, std::chrono::seconds ttl) = 0;
};

}  // namespace sluice::pipeline
