#pragma once
/// The registry (DESIGN.md §1, §3): which device subscribed to what, and for a change, which
/// devices it reaches and how. Subscriptions belong to devices and are keyed by (device, channel),
/// where a filtered subscription's channel is its pattern plus `:filter:F` (`channel::channel`):
/// one device holds any number of filtered subscriptions on one pattern, and subscribing again to
/// a channel is idempotent. Implementations: in memory with SQLite persistence (embedded; rebuilt
/// on restart), Redis (distributed: `sluice/redis/registry.hpp`). Thread-safe.
#include <sluice/registry/subscription_index.hpp>

#include <boost/json/value.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sluice::registry {

struct subscription {
    std::string device;
    std::string app;
    std::string user;
    std::string channel;        ///< its name: the pattern, plus `:filter:F` when filtered
    boost::json::value filter;  ///< the filter as given, or null
};

/// One device a change reaches, with the kind of event and the names of all the device's channels
/// that the change reached with that kind.
struct route {
    std::string device;
    change_kind kind;
    std::vector<std::string> channels;
};

class registry {
public:
    virtual ~registry() = default;
    /// Adds the subscription, or replaces the device's one on the same channel (idempotent);
    /// `filter` must have compiled from `s.filter`. Throws `error` with code
    /// `too_many_subscriptions` when the device already has `limit` subscriptions and none on
    /// `s.channel`, and `invalid_input` when `s.channel` is not a channel name.
    virtual void subscribe(const subscription& s, std::optional<json::filter> filter, std::size_t limit) = 0;
    virtual bool unsubscribe(const std::string& device, const std::string& channel) = 0;
    /// Removes every subscription of the device.
    virtual void forget_device(const std::string& device) = 0;
    virtual std::vector<subscription> subscriptions_of(const std::string& device) = 0;
    /// Every device that has subscriptions (to restore device state after a restart).
    virtual std::vector<std::string> devices() = 0;
    /// The devices a change published on the patterns `channels` (`channel::channels_for`)
    /// reaches: appends one route per (device, kind). Costs O(matching subscriptions), whatever
    /// the number of subscriptions of a device. An implementation backed by a server (Redis)
    /// throws `unavailable` while it cannot be sure its answer is complete, as every other call
    /// does while its backend cannot be reached; it never answers from state it knows is stale.
    virtual void find(std::span<const std::string> channels, const boost::json::value* before,
                      const boost::json::value* after, std::vector<route>& out) = 0;
    virtual std::size_t size() = 0;
    /// Makes `find` reflect every change to the registry that completed, in any process, before
    /// this call: a change written after a device's `subscribed` reaches it. A registry shared by
    /// several processes (Redis) asks its server how far it is and waits for its local index to
    /// get there; throws `unavailable` when it cannot in time. In one process: nothing to do.
    virtual void catch_up() {}
};

/// In memory, persisted to a SQLite file and reloaded from it on open. Rows written before filtered
/// subscriptions were channels of their own (a filter stored under the plain pattern) are renamed
/// to their `:filter:F` channel on open.
std::unique_ptr<registry> open_embedded(const std::filesystem::path& file);

}  // namespace sluice::registry
