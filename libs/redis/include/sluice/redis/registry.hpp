#pragma once
/// The subscription registry on Redis (DESIGN.md §1, §3, §10): the distributed shape's
/// `registry::registry`, on a single Redis or on a Redis Cluster, shared by every process of a
/// deployment (API instances write it, transport managers route with it).
///
/// Contract: the one of `registry::registry`, across processes.
/// - `subscribe`, `unsubscribe`, `forget_device` and `subscriptions_of` act on Redis, which holds
///   the truth; when it cannot be reached or does not answer within `timeout` they throw
///   `sluice::unavailable` (backend "registry") and never answer from stale state. A call that
///   threw may or may not have taken effect; retrying it is safe (all of them are idempotent;
///   an `unsubscribe` retried after one that took effect answers false).
/// - The `subscriptions_per_device` limit holds across processes: the check and the write are one
///   atomic step in Redis, so two API processes cannot together push a device past it.
/// - `find` never asks Redis: every process keeps a local `subscription_index` fed from Redis
///   (a full load, then a change feed). A subscription acknowledged by any process is found by
///   every process's `find` once its feed has caught up (normally within milliseconds), and by
///   the acknowledging process at once. `find` throws `unavailable` while this process cannot be
///   sure its index is complete: before the first load, after it lost the feed and until the
///   reload that follows, and after a gap in the feed until that reload.
/// - `devices` scans Redis (every master); `size` is the local index's.
/// - Recovery is automatic: connections are retried with capped backoff, the slot map is
///   refreshed on `MOVED`, `ASK` is followed, and the index is reloaded after a disconnect.
///
/// Key layout (P = `key_prefix`, D = the device id with `%`, `{`, `}` percent-escaped, so that
/// all keys of a device share the hash tag `{D}` and every device operation runs on one slot):
///
///   P:{D}:subs      hash   channel name -> {"app":..,"user":..,"filter":..} (no filter: unfiltered)
///   P:{D}:version   int    bumped by every write to the device; kept one day after the device
///                          has no subscriptions left, so versions never restart while a feed
///                          entry about the device can still be in flight
///   P:{feed}:stream stream the change feed, one entry per write: s (feed sequence), d (device),
///                          v (device version after the write), o (s/u/f: subscribe, unsubscribe,
///                          forget), c (channel), b (the stored subscription, for `s`); trimmed
///                          to about `feed_length` entries
///   P:{feed}:seq    int    the feed's sequence counter, bumped with each entry (same slot)
///
/// Why no acknowledged subscription can be missing from an index:
/// 1. A write is acknowledged (the call returns) only after (a) a Lua script on the device's
///    slot has changed `subs` and bumped `version` atomically, returning the new version v, and
///    then (b) a second script has appended the entry (device, v, change) to the feed with the
///    next feed sequence number, atomically with the counter. Write, then publish, then answer.
/// 2. The feed is a stream, not pub/sub: entries stay until trimmed, a follower reads from its
///    last id, so a disconnect loses nothing by itself; and every entry carries a sequence
///    number, so a follower that sees anything but last + 1 (entries trimmed away while it was
///    behind, a feed that restarted empty) knows it has a gap. A gap, a lost connection or an
///    error makes the follower reload.
/// 3. A reload first reads the feed position (last id and sequence, atomically), then loads every
///    device (SCAN of every master; each device's subs and version read atomically), then follows
///    the feed from that position. A write acknowledged before the position was read is in the
///    load (its script ran before); one after it is in the feed after that position. If the slot
///    map changed during the load (a resharding can hide keys from SCAN) the load starts over.
/// 4. Two processes writing one device may append their entries in the other order than their
///    writes. Entries are therefore applied by device version: an entry with v <= the version the
///    index holds for the device is already reflected; v == held + 1 is applied as a delta; any
///    other v (or a device the index does not know, unless v == 1) makes the follower re-read
///    that device (subs and version, atomically) and install it if newer. Devices that lost all
///    subscriptions keep their version in the index for a while (tombstones) so that a late
///    entry cannot resurrect a removed subscription.
/// Consequence: a write whose feed append failed (the call threw) may be missing from other
/// indexes until the device's next write or the next reload; it was never acknowledged.
///
/// In a cluster every key of the feed lives on one slot: subscription writes need that node up.
/// While a device's slot migrates, a device with no keys yet cannot be written (Redis answers
/// TRYAGAIN to a multi-key script on missing keys): `unavailable` until the migration ends.
/// Needs Redis >= 6 (SCAN ... TYPE); no TLS and no AUTH (hiredis 0.14): loopback or a private
/// network only.
#include <chrono>
#include <cstdint>
#include <memory>
#include <sluice/registry/registry.hpp>
#include <string>
#include <vector>

namespace sluice::redis {

struct redis_options {
    /// `redis://host:port`. Standalone: the server (only the first is used). Cluster: any
    /// number of nodes to discover the cluster from.
    std::vector<std::string> urls;
    bool cluster = false;
    /// How long one registry call may take, retries included, before it throws `unavailable`.
    std::chrono::milliseconds timeout{2000};
    /// Prefix of every key; must not contain `{`, `}`, `*`, `?`, `[` or `]`. Several
    /// deployments (or test runs) can share one Redis with different prefixes.
    std::string key_prefix = "sluice:registry";
    /// About how many entries the feed keeps: a follower further behind than this reloads.
    std::size_t feed_length = 100000;
};

/// What a Redis registry can tell `/healthz` and tests.
struct redis_status {
    bool live = false;          ///< the index is loaded and following the feed: `find` answers
    std::uint64_t reloads = 0;  ///< full loads done (the first one included)
    std::uint64_t applied = 0;  ///< feed entries applied (or found already reflected)
    std::uint64_t rereads = 0;  ///< devices re-read because of out-of-order entries
    std::uint64_t moved = 0;    ///< cluster `MOVED` redirections followed
    std::uint64_t asked = 0;    ///< cluster `ASK` redirections followed
    std::string last_error;     ///< the follower's last failure, if any
};

class redis_registry : public registry::registry {
  public:
    virtual redis_status status() = 0;
};

/// Opens the registry and starts following Redis in the background. Does not throw when Redis
/// is unreachable (a backend missing at start-up is retried, and reported through `status`);
/// throws `invalid_input` (config_error) for bad options.
std::unique_ptr<redis_registry> open_redis_registry(redis_options options);

}  // namespace sluice::redis
