#pragma once
/// The subscription index: which subscriptions a change reaches, and how (DESIGN.md §3, §4).
///
/// Subscriptions are grouped by channel. Inside a channel, a filtered subscription is indexed on
/// one of its filter's necessary field conditions (`json::field_constraint`): equality and `$in`
/// values in a hash table, numeric ranges in ordered maps. A change therefore evaluates only the
/// filters whose indexed condition its documents meet, and the cost grows with the number of
/// matching subscriptions rather than with the number of subscriptions. Filters with no usable
/// condition (a top-level `$or`, say) are evaluated on every change to their channel.
#include <sluice/json/filter.hpp>

#include <boost/json/value.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace sluice::registry {

using subscription_id = std::uint64_t;

/// How a change looks to one subscription. For a filtered subscription an update that makes the
/// document match is `entered`, one that makes it stop matching is `left`.
enum class change_kind { created, updated, deleted, entered, left };

const char* event_name(change_kind kind) noexcept;  ///< model_created, model_updated, ...

struct match {
    subscription_id id;
    change_kind kind;
    std::uint32_t channel_index;  ///< which of the channels passed to `find` it was subscribed on
};

/// Not thread-safe: one owner (the transport manager) adds, removes and finds.
class subscription_index {
public:
    /// Adds (or replaces) subscription `id` on `channel`, with an optional compiled filter.
    void add(subscription_id id, std::string channel, std::optional<json::filter> filter);
    /// Removes `id`; false if it was not there.
    bool remove(subscription_id id);
    std::size_t size() const noexcept { return by_id_.size(); }

    /// Appends to `out` one `match` per subscription on one of `channels` that the change reaches.
    /// `before` is null for a create, `after` is null for a delete.
    void find(std::span<const std::string> channels, const boost::json::value* before,
              const boost::json::value* after, std::vector<match>& out);

private:
    struct entry {
        subscription_id id = 0;
        std::string channel;
        std::optional<json::filter> filter;
        // Where it is indexed inside its channel, for removal.
        enum class place { unfiltered, scan, equals, range_low, range_high, range_bounded } where = place::unfiltered;
        std::size_t path_slot = 0;
        std::vector<std::string> keys;
        double bound = 0;
        int width_class = 0;
    };
    struct equality_index {
        json::field_path path;
        std::unordered_map<std::string, std::vector<std::uint32_t>> by_value;
    };
    /// Numeric ranges on one path. One-sided ranges are ordered by their bound, so the candidates
    /// for a value x are a prefix (low <= x) or a suffix (high >= x). Two-sided ranges are grouped
    /// by width class (widths in [2^k, 2^k+1)) and ordered by low: for a lone value x only lows
    /// within [x - 2^k+1, x] are candidates, and at least half of those contain x. (An array can
    /// meet the two bounds with different elements: then every range with low <= its highest
    /// element is a candidate.)
    struct range_entry {
        std::uint32_t slot;
        double low, high;
        bool low_open, high_open;
        bool contains(double x) const noexcept {
            return (low_open ? x > low : x >= low) && (high_open ? x < high : x <= high);
        }
    };
    using range_map = std::multimap<double, range_entry>;
    struct range_index {
        json::field_path path;
        range_map by_low;
        range_map by_high;
        std::map<int, range_map> bounded;
    };
    struct bucket {
        std::vector<std::uint32_t> unfiltered;
        std::vector<std::uint32_t> scan;
        std::vector<equality_index> equalities;
        std::vector<range_index> ranges;
        std::size_t count = 0;
    };

    /// What `find` touches for every candidate, kept apart from `entry` for cache locality.
    struct hot {
        std::uint64_t seen = 0;  // the last `find` that reached it
        subscription_id id = 0;
        std::uint8_t flags = 0;  // matched_before | matched_after | evaluate
        bool exact = false;      // its index key is the whole filter: no evaluation needed
    };
    static constexpr std::uint8_t matched_before = 1, matched_after = 2, evaluate = 4;

    void reach(std::uint32_t slot, std::uint8_t flag);
    void resolve(std::uint32_t channel_index, const boost::json::value* before, const boost::json::value* after,
                 std::vector<match>& out);
    void index_filtered(bucket& b, std::uint32_t slot);
    static void key_of(const boost::json::value& v, std::string& key);

    std::vector<entry> entries_;
    std::vector<hot> hot_;
    std::vector<std::uint32_t> candidates_;  // scratch of `find`
    std::vector<std::uint32_t> free_;
    std::unordered_map<subscription_id, std::uint32_t> by_id_;
    std::unordered_map<std::string, bucket> buckets_;
    std::uint64_t epoch_ = 0;
    std::string key_;  // scratch
};

}  // namespace sluice::registry
