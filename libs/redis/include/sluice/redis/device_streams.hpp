#pragma once
/// Shared device streams on Redis (pipeline/device_log.hpp): the per-device numbering, resume
/// backlog and socket directory of the distributed shape, on a single Redis or a Redis Cluster.
///
/// Keys (every key of one device shares the hash tag `{device}`, so one device's operations are
/// one slot and each script is atomic):
///
/// | key                         | type   | holds                                                   |
/// |-----------------------------|--------|---------------------------------------------------------|
/// | `P:{device}:seq`            | string | the device's last number (kept `seq_ttl` after its last frame) |
/// | `P:{device}:log`            | list   | the backlog: `seq \n identity \n head`, oldest first, at most `backlog` |
/// | `P:{device}:ids`            | hash   | identity (`{"event":E,"op":O`) → seq, for what the backlog holds |
/// | `P:{device}:at`             | string | the websockets-transport instance holding its socket      |
/// | `P:instance:ID`             | string | present while instance ID beats (expires after its ttl)   |
///
/// The log and ids expire one grace period after the device's last frame (a device away longer
/// must resync); the number itself lives on much longer, so a device that comes back after a
/// quiet spell never sees numbers start again below what it holds.
///
/// One `append` call is one pipeline per node (one round trip however many frames), a script run
/// per frame on a single Redis and per device and frame in a cluster; scripts go by their SHA1.
/// Every call has the deadline `timeout`; an outage throws `sluice::unavailable("devices", ...)`.
#include <sluice/pipeline/device_log.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace sluice::redis {

struct device_streams_options {
    std::vector<std::string> urls;  ///< as `redis_options::urls`
    bool cluster = false;
    std::chrono::milliseconds timeout{2000};
    std::string key_prefix = "sluice:devices";
    std::size_t backlog = 1000;                      ///< frames kept per device (limits.resume_backlog)
    std::chrono::seconds grace_period{60};           ///< limits.grace_period_seconds
    std::chrono::seconds seq_ttl{30 * 24 * 3600};    ///< how long a silent device's number is kept
};

struct device_streams {
    std::shared_ptr<pipeline::device_log> log;
    std::shared_ptr<pipeline::device_directory> directory;
};

/// Both share one Redis client. Does not connect until used; throws `invalid_input` for bad urls.
device_streams open_redis_device_streams(device_streams_options options);

}  // namespace sluice::redis
