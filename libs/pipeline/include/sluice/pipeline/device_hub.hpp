#pragma once
/// Devices and their ordered, resumable message streams (DESIGN.md §6 "Devices").
///
/// Every frame delivered to a device gets the next sequence number of that device. The last
/// `backlog` frames of each device are kept (in memory, and in a SQLite log that survives restarts)
/// so a device that reconnects within the grace period with `resume_from` gets what it missed, in
/// order; when what it missed is no longer kept it is told to resync. Frames are serialized once:
/// a frame is a shared head `{"event":..,"data":..,"seq":` completed per device with `N}`.
/// Thread-safe.
#include <sluice/metrics/metrics.hpp>
#include <sluice/pipeline/device_log.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <unordered_map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sluice::pipeline {

using frame_head = std::shared_ptr<const std::string>;

/// One open connection of a device (a WebSocket). Implementations are thread-safe and never block:
/// `send` queues, and a connection that cannot keep up closes itself.
class connection {
public:
    virtual ~connection() = default;
    virtual void send(frame_head head, std::uint64_t seq) = 0;
    /// Several frames in order (a batch of changes): one hand-over instead of one per frame.
    virtual void send_all(std::vector<std::pair<frame_head, std::uint64_t>> frames) {
        for (auto& [head, seq] : frames) send(std::move(head), seq);
    }
    virtual void close(std::uint16_t code, const std::string& reason) = 0;
};

/// One frame for a set of devices. A head starts `{"event":E,"op":O,` (see `frame_head_for`):
/// that prefix identifies the (op, event) of the frame.
struct delivery {
    std::vector<std::string> devices;
    frame_head head;
    /// Delivered before, perhaps (the queue message came again): devices whose backlog already
    /// holds this (op, event) are skipped, so no device gets it twice.
    bool redelivered = false;
};

/// Frames the transport manager numbered (shared streams): one head, each device with its number.
struct numbered_delivery {
    frame_head head;
    std::vector<std::pair<std::string, std::uint64_t>> targets;
};

/// The distributed shape: numbers and backlogs live in `log`, written by the transport manager;
/// the hub holds this instance's sockets and says so in `directory` (see device_log.hpp).
struct shared_streams {
    std::shared_ptr<device_log> log;
    std::shared_ptr<device_directory> directory;
    std::string instance;  ///< this websockets-transport instance
};

class device_hub {
public:
    /// One process: the hub numbers frames itself and keeps backlogs in a SQLite log.
    device_hub(const std::filesystem::path& log_file, std::size_t backlog, std::chrono::seconds grace_period);
    /// Several websockets-transport instances: numbers and backlogs are shared.
    device_hub(shared_streams shared, std::chrono::seconds grace_period);
    ~device_hub();

    /// Shared streams: the transport manager numbers frames (`deliver_numbered`), not `deliver`.
    const std::optional<shared_streams>& shared() const { return shared_; }

    /// Sends frames numbered by the transport manager to this instance's sockets, each device's in
    /// number order: a number already sent is skipped, a gap is filled from the log first. Throws
    /// `sluice::unavailable` when the log cannot be read (the frames come again). Shared streams
    /// only.
    void deliver_numbered(const std::vector<numbered_delivery>& batch);

    /// Assigns sequence numbers, makes the frames durable (one transaction), then sends them to the
    /// devices' open connections. A device never gets one (op, event) twice while it is in its backlog. Throws when the log cannot be written: then nothing was sent and
    /// the numbers are given back. Called from one thread (the websocket stage).
    void deliver(const std::vector<delivery>& batch);

    struct attach_result {
        std::uint64_t seq = 0;          ///< the device's last sequence number
        bool resync_required = false;   ///< `resume_from` is no longer covered by the backlog
        std::vector<std::pair<std::uint64_t, frame_head>> replay;  ///< frames after `resume_from`
    };
    /// Registers an open connection of `device`; with `resume_from`, also what it missed. With
    /// shared streams this reads the log and writes the directory: call it off the event loop.
    attach_result attach(const std::string& device, std::shared_ptr<connection> c, std::optional<std::uint64_t> resume_from);
    void detach(const std::string& device, const connection* c);
    /// The device's frames numbered after `after` and up to `up_to`, at most `max` of them, without
    /// attaching anything: how a connection that fell behind (MQTT, while its broker was away)
    /// catches up. `resync_required` when the backlog no longer reaches back to `after + 1`. One
    /// process only (the hub numbers frames itself).
    attach_result read(const std::string& device, std::uint64_t after, std::uint64_t up_to, std::size_t max);
    /// A device known from its subscriptions after a restart: kept for one grace period.
    void restore(const std::string& device);
    /// Closes every connection of the device (logout).
    void close_device(const std::string& device, std::uint16_t code, const std::string& reason);
    /// Forgets devices disconnected for longer than the grace period and returns them.
    std::vector<std::string> expire();

private:
    struct device_state {
        std::uint64_t seq = 0;  ///< shared streams: the last number sent to this instance's sockets
        std::size_t joining = 0;           ///< shared streams: attaches reading the log
        std::uint64_t seen_joining = 0;    ///< shared streams: highest number routed here meanwhile
        bool gap = false;                  ///< shared streams: a gap is being filled from the log
        std::deque<std::pair<std::uint64_t, frame_head>> backlog;
        std::vector<std::shared_ptr<connection>> connections;
        std::optional<std::chrono::steady_clock::time_point> disconnected_since;
    };
    /// A frame for one connection, gathered under the lock and sent after it.
    struct target {
        std::shared_ptr<connection> to;
        const frame_head* head;
        std::uint64_t seq;
    };
    static void hand_over(std::vector<target>& targets, bool several_changes);
    void persist(const std::vector<std::pair<const delivery*, std::vector<std::uint64_t>>>& assigned);
    attach_result attach_shared(const std::string& device, std::shared_ptr<connection> c, std::optional<std::uint64_t> resume_from);
    void fill_gap(const std::string& device);
    attach_result read_locked(const device_state& state, std::uint64_t after, std::uint64_t up_to, std::size_t max) const;
    void prune();

    std::mutex mutex_;
    std::unordered_map<std::string, device_state> devices_;
    std::size_t backlog_;
    std::chrono::seconds grace_;
    struct log;
    std::unique_ptr<log> log_;  ///< one process only
    std::optional<shared_streams> shared_;
    /// Shared streams: directory updates that must not wait on the caller's thread (a socket
    /// closing on the event loop), written in order by one thread.
    class directory_writer;
    std::unique_ptr<directory_writer> directory_writer_;
    std::chrono::steady_clock::time_point last_prune_ = std::chrono::steady_clock::now();
};

}  // namespace sluice::pipeline
