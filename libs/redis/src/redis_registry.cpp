#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <sluice/channel/channel.hpp>
#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/redis/registry.hpp>
#include <sluice/registry/route_grouping.hpp>
#include <thread>
#include <unordered_map>

#include "client.hpp"

namespace sluice::redis {

namespace bj = boost::json;
using namespace std::chrono_literals;
using detail::clock;
using detail::reply;
using registry::change_kind;
using registry::match;
using registry::route;
using registry::route_grouping;
using registry::route_slots;
using registry::subscription;
using registry::subscription_id;

namespace {

// Scripts. Each touches the keys of one device, or the two feed keys: one slot each, so they
// run atomically on one node in a cluster too.

// KEYS: subs, version. ARGV: channel, stored subscription, limit. -> {1, version} or {0, held}
constexpr const char* subscribe_lua = R"lua(
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  local held = redis.call('HLEN', KEYS[1])
  if held >= tonumber(ARGV[3]) then return {0, held} end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PERSIST', KEYS[2])
return {1, redis.call('INCR', KEYS[2])}
)lua";

// KEYS: subs, version. ARGV: channel, version ttl. -> {removed, version}
constexpr const char* unsubscribe_lua = R"lua(
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
local v = redis.call('INCR', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return {removed, v}
)lua";

// KEYS: subs, version. ARGV: version ttl. -> version
constexpr const char* forget_lua = R"lua(
redis.call('DEL', KEYS[1])
local v = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return v
)lua";

// KEYS: subs, version. -> {version, {channel, stored, ...}}
constexpr const char* load_lua = R"lua(
local v = redis.call('GET', KEYS[2])
if not v then v = '0' end
return {v, redis.call('HGETALL', KEYS[1])}
)lua";

// KEYS: feed stream, feed sequence. ARGV: device, version, op, channel, stored, length. -> seq
constexpr const char* append_lua = R"lua(
local s = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[6], '*', 's', s, 'd', ARGV[1], 'v', ARGV[2], 'o', ARGV[3], 'c', ARGV[4], 'b', ARGV[5])
return s
)lua";

// KEYS: feed stream, feed sequence. -> {last id, sequence}
constexpr const char* position_lua = R"lua(
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local s = redis.call('GET', KEYS[2])
if not s then s = '0' end
if #last == 0 then return {'0-0', s} end
return {last[1][1], s}
)lua";

constexpr auto version_ttl_seconds = "86400";
constexpr auto tombstone_life = 10min;

std::string escape_device(std::string_view device) {
    std::string out;
    out.reserve(device.size());
    for (char c : device) {
        switch (c) {
            case '%':
                out += "%25";
                break;
            case '{':
                out += "%7B";
                break;
            case '}':
                out += "%7D";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string unescape_device(std::string_view key) {
    std::string out;
    for (std::size_t i = 0; i < key.size(); ++i) {
        if (key[i] == '%' && i + 2 < key.size()) {
            auto code = key.substr(i + 1, 2);
            if (code == "25")
                out += '%';
            else if (code == "7B")
                out += '{';
            else if (code == "7D")
                out += '}';
            else {
                out += key[i];
                continue;
            }
            i += 2;
        } else {
            out += key[i];
        }
    }
    return out;
}

std::uint64_t to_u64(const reply& r) {
    if (r.kind == reply::type::integer) return static_cast<std::uint64_t>(r.integer);
    std::uint64_t v = 0;
    std::from_chars(r.str.data(), r.str.data() + r.str.size(), v);
    return v;
}

std::string stored_form(const subscription& s) {
    bj::object o{{"app", s.app}, {"user", s.user}};
    if (!s.filter.is_null()) o["filter"] = s.filter;
    return bj::serialize(o);
}

/// A subscription read back from Redis, with its filter compiled.
struct loaded_subscription {
    subscription sub;
    std::optional<json::filter> filter;
};

std::optional<loaded_subscription> from_stored(const std::string& device, const std::string& channel,
                                               const std::string& stored) {
    try {
        auto v = parse_json(stored, "stored subscription");
        const auto& o = v.as_object();
        channel::channel::parse(channel);  // what `find` will need
        loaded_subscription out;
        out.sub.device = device;
        out.sub.channel = channel;
        out.sub.app = std::string(o.at("app").as_string());
        out.sub.user = std::string(o.at("user").as_string());
        if (const auto* f = o.if_contains("filter"); f != nullptr && !f->is_null()) {
            out.sub.filter = *f;
            out.filter = json::filter::compile(*f);
        }
        return out;
    } catch (const std::exception& e) {
        spdlog::error("registry: skipping the unreadable subscription of device '{}' on '{}': {}", device,
                      channel, e.what());
        return std::nullopt;
    }
}

/// One device's subscriptions as read atomically with its version.
struct device_snapshot {
    std::uint64_t version = 0;
    std::vector<loaded_subscription> subs;
};

device_snapshot snapshot_from(const std::string& device, const reply& r) {
    device_snapshot out;
    if (r.kind != reply::type::array || r.elements.size() != 2) {
        throw unavailable("registry", "redis: unexpected answer to a device load: " + r.str);
    }
    out.version = to_u64(r.elements[0]);
    const auto& flat = r.elements[1].elements;
    for (std::size_t i = 0; i + 1 < flat.size(); i += 2) {
        if (auto s = from_stored(device, flat[i].str, flat[i + 1].str)) out.subs.push_back(std::move(*s));
    }
    return out;
}

/// A change to one device, as written or as read from the feed.
struct delta {
    char op = 's';  // s: subscribe (add or replace), u: unsubscribe, f: forget the device
    std::string channel;
    std::optional<loaded_subscription> sub;  // for 's'
};

/// The local index: what `find` answers from. Not thread-safe; the registry locks around it.
class local_index {
  public:
    struct device_state {
        std::map<std::string, subscription_id, std::less<>> channels;
        std::uint64_t version = 0;
        clock::time_point emptied{};         // a tombstone since then, when `channels` is empty
        route_slots slots;
    };

    device_state* known(const std::string& device) {
        auto it = devices_.find(device);
        return it == devices_.end() ? nullptr : &it->second;
    }

    /// Replaces the device by a snapshot when the snapshot is newer than what is held.
    void install(const std::string& device, device_snapshot snap) {
        auto* d = known(device);
        if (d != nullptr && snap.version <= d->version) return;
        if (d == nullptr && snap.subs.empty()) {
            if (snap.version == 0) return;
            d = &devices_[device];  // a tombstone: later stale entries must not resurrect anything
        }
        if (d == nullptr) d = &devices_[device];
        clear(*d);
        for (auto& s : snap.subs) add(device, *d, std::move(s));
        set_version(*d, snap.version);
    }

    /// Applies the change that took the device from `version - 1` to `version`.
    void apply(const std::string& device, std::uint64_t version, delta change) {
        auto& d = devices_[device];
        switch (change.op) {
            case 's':
                if (change.sub) add(device, d, std::move(*change.sub));
                break;
            case 'u':
                drop(d, change.channel);
                break;
            case 'f':
                clear(d);
                break;
        }
        set_version(d, version);
    }

    void sweep(clock::time_point now) {
        for (auto it = devices_.begin(); it != devices_.end();) {
            if (it->second.channels.empty() && it->second.emptied + tombstone_life < now) {
                it = devices_.erase(it);
            } else {
                ++it;
            }
        }
    }

    void find(std::span<const std::string> channels, const bj::value* before, const bj::value* after,
              std::vector<route>& out) {
        matches_.clear();
        index_.find(channels, before, after, matches_);
        grouping_.group(matches_, [this](subscription_id id) {
            auto& held = by_id_.at(id);
            return std::pair<route_slots&, const subscription&>(held.device->slots, held.sub);
        }, out);
    }

    std::size_t size() const noexcept { return index_.size(); }

  private:
    struct held_subscription {
        subscription sub;
        device_state* device;  // std::map nodes are stable
    };

    void add(const std::string& device, device_state& d, loaded_subscription s) {
        auto [it, inserted] = d.channels.try_emplace(s.sub.channel, 0);
        if (inserted) it->second = ++next_id_;
        const subscription_id id = it->second;
        auto pattern = channel::channel::parse(s.sub.channel).pattern();
        index_.add(id, std::move(pattern), std::move(s.filter));
        s.sub.device = device;
        by_id_.insert_or_assign(id, held_subscription{std::move(s.sub), &d});
    }

    void drop(device_state& d, const std::string& channel) {
        auto it = d.channels.find(channel);
        if (it == d.channels.end()) return;
        index_.remove(it->second);
        by_id_.erase(it->second);
        d.channels.erase(it);
    }

    void clear(device_state& d) {
        for (const auto& [channel, id] : d.channels) {
            index_.remove(id);
            by_id_.erase(id);
        }
        d.channels.clear();
    }

    void set_version(device_state& d, std::uint64_t version) {
        d.version = version;
        if (d.channels.empty()) d.emptied = clock::now();
    }

    registry::subscription_index index_;
    std::unordered_map<subscription_id, held_subscription> by_id_;
    std::map<std::string, device_state, std::less<>> devices_;
    subscription_id next_id_ = 0;
    route_grouping grouping_;
    std::vector<match> matches_;  // scratch of find
};

std::vector<detail::endpoint> endpoints_of(const redis_options& o) {
    if (o.urls.empty()) throw invalid_input(errc::config_error, "registry: redis needs at least one url");
    std::vector<detail::endpoint> out;
    for (const auto& u : o.urls) out.push_back(detail::parse_url(u));
    return out;
}

void check_prefix(const std::string& prefix) {
    if (prefix.empty() || prefix.find_first_of("{}*?[]\\") != std::string::npos) {
        throw invalid_input(errc::config_error, "registry: key_prefix '" + prefix +
                                                    "' must be non-empty and contain none of { } * ? [ ] \\");
    }
}

class redis_registry_impl final : public redis_registry {
  public:
    explicit redis_registry_impl(redis_options o)
        : options_((check_prefix(o.key_prefix), std::move(o))),
          commands_({endpoints_of(options_), options_.cluster, "commands"}),
          feed_({endpoints_of(options_), options_.cluster, "feed"}),
          feed_stream_(options_.key_prefix + ":{feed}:stream"),
          feed_seq_(options_.key_prefix + ":{feed}:seq"),
          index_(std::make_unique<local_index>()) {
        follower_ = std::thread([this] { follow(); });
        // Most callers want an index at once; a Redis that is not there yet is retried in the
        // background and reported, not fatal.
        std::unique_lock lock(mutex_);
        state_cv_.wait_for(lock, options_.timeout, [this] { return live_ || !last_error_.empty(); });
    }

    ~redis_registry_impl() override {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        state_cv_.notify_all();
        feed_.stop();  // the follower may be retrying an outage: let it give up now
        follower_.join();
    }

    void subscribe(const subscription& s, std::optional<json::filter> filter, std::size_t limit) override {
        channel::channel::parse(s.channel);  // invalid_input for a name that is not a channel
        const auto stored = stored_form(s);
        auto r = commands_.call(subs_key(s.device),
                                {"EVAL", subscribe_lua, "2", subs_key(s.device), version_key(s.device),
                                 s.channel, stored, std::to_string(limit)},
                                deadline());
        expect_array(r, 2, "subscribe");
        if (r.elements[0].integer == 0) {
            throw error(errc::too_many_subscriptions,
                        "device '" + s.device + "' already has " + std::to_string(r.elements[1].integer) +
                            " subscriptions, the most limits.subscriptions_per_device allows; unsubscribe "
                            "from one first");
        }
        const auto version = to_u64(r.elements[1]);
        apply_local(s.device, version, delta{'s', s.channel, loaded_subscription{s, std::move(filter)}});
        append(s.device, version, 's', s.channel, stored);
    }

    bool unsubscribe(const std::string& device, const std::string& channel) override {
        auto r = commands_.call(subs_key(device),
                                {"EVAL", unsubscribe_lua, "2", subs_key(device), version_key(device), channel,
                                 version_ttl_seconds},
                                deadline(), /*idempotent=*/false);  // a second run would answer false
        expect_array(r, 2, "unsubscribe");
        const auto version = to_u64(r.elements[1]);
        apply_local(device, version, delta{'u', channel, std::nullopt});
        // Appended even when nothing was removed: a retry after a failed append must still reach
        // the other processes.
        append(device, version, 'u', channel, "");
        return r.elements[0].integer == 1;
    }

    void forget_device(const std::string& device) override {
        auto r = commands_.call(
            subs_key(device),
            {"EVAL", forget_lua, "2", subs_key(device), version_key(device), version_ttl_seconds},
            deadline());
        if (r.kind != reply::type::integer) fail("forget_device", r);
        const auto version = to_u64(r);
        apply_local(device, version, delta{'f', "", std::nullopt});
        append(device, version, 'f', "", "");
    }

    std::vector<subscription> subscriptions_of(const std::string& device) override {
        auto snap = load_device(commands_, device);
        std::vector<subscription> out;
        for (auto& s : snap.subs) out.push_back(std::move(s.sub));
        return out;
    }

    std::vector<std::string> devices() override {
        std::vector<std::string> out;
        const auto until = deadline();
        for (const auto& node : commands_.masters(until)) {
            scan_devices(commands_, node, until, [&](const std::vector<std::string>& keys) {
                for (const auto& k : keys) out.push_back(device_of(k));
            });
        }
        std::sort(out.begin(), out.end());
        out.erase(std::unique(out.begin(), out.end()), out.end());
        return out;
    }

    void find(std::span<const std::string> channels, const bj::value* before, const bj::value* after,
              std::vector<route>& out) override {
        std::lock_guard lock(mutex_);
        if (!live_) {
            throw unavailable("registry", "the subscription index is not in step with redis" +
                                              (last_error_.empty() ? std::string() : ": " + last_error_));
        }
        index_->find(channels, before, after, out);
    }

    std::size_t size() override {
        std::lock_guard lock(mutex_);
        return index_->size();
    }

    void catch_up() override {
        const auto until = deadline();
        auto r = commands_.call(feed_seq_, {"GET", feed_seq_}, until);
        if (r.is_error()) fail("GET of the feed position", r);
        const std::uint64_t written = r.is_nil() ? 0 : to_u64(r);
        std::unique_lock lock(mutex_);
        // The follower is woken by the entries themselves (XREAD BLOCK): this waits for its work,
        // not for a poll.
        if (!state_cv_.wait_until(lock, until, [&] { return stopping_ || !live_ || followed_ >= written; }) || !live_) {
            throw unavailable("registry", "the subscription index did not catch up with redis in time" +
                                              (last_error_.empty() ? std::string() : ": " + last_error_));
        }
    }

    redis_status status() override {
        const auto c = commands_.followed(), f = feed_.followed();
        std::lock_guard lock(mutex_);
        return {live_, reloads_, applied_, rereads_, c.moved + f.moved, c.asked + f.asked, last_error_};
    }

  private:
    clock::time_point deadline() const { return clock::now() + options_.timeout; }

    std::string subs_key(std::string_view device) const {
        return options_.key_prefix + ":{" + escape_device(device) + "}:subs";
    }
    std::string version_key(std::string_view device) const {
        return options_.key_prefix + ":{" + escape_device(device) + "}:version";
    }
    std::string device_of(std::string_view key) const {
        key.remove_prefix(options_.key_prefix.size() + 2);  // "P:{"
        key.remove_suffix(6);                               // "}:subs"
        return unescape_device(key);
    }

    [[noreturn]] static void fail(const char* what, const reply& r) {
        throw unavailable("registry", std::string("redis: unexpected answer to ") + what + ": " +
                                          (r.is_error() ? r.str : "of the wrong type"));
    }
    static void expect_array(const reply& r, std::size_t n, const char* what) {
        if (r.kind != reply::type::array || r.elements.size() != n) fail(what, r);
    }

    /// Write, then publish: the entry goes to the feed after the device's write succeeded, and
    /// the caller hears of success only after both.
    void append(const std::string& device, std::uint64_t version, char op, const std::string& channel,
                const std::string& stored) {
        auto r =
            commands_.call(feed_stream_,
                           {"EVAL", append_lua, "2", feed_stream_, feed_seq_, device, std::to_string(version),
                            std::string(1, op), channel, stored, std::to_string(options_.feed_length)},
                           deadline());
        if (r.kind != reply::type::integer) fail("the feed append", r);
    }

    /// Read-your-writes: the writing process sees its change in `find` before the call returns.
    void apply_local(const std::string& device, std::uint64_t version, delta change) {
        std::lock_guard lock(mutex_);
        if (reloading_) touched_.insert(device);  // the index being built may not have it
        auto* d = index_->known(device);
        const std::uint64_t held = d != nullptr ? d->version : 0;
        if (version <= held) return;
        if (version == held + 1) {
            index_->apply(device, version, std::move(change));
        } else {
            reread_.insert(
                device);  // entries before ours are still on their way: let the follower sort it out
            state_cv_.notify_all();
        }
    }

    device_snapshot load_device(detail::client& c, const std::string& device) {
        auto r = c.call(subs_key(device), {"EVAL", load_lua, "2", subs_key(device), version_key(device)},
                        deadline());
        return snapshot_from(device, r);
    }

    template <class Fn>
    void scan_devices(detail::client& c, const detail::endpoint& node, clock::time_point until, Fn&& fn) {
        std::string cursor = "0";
        const std::string pattern = options_.key_prefix + ":{*}:subs";
        do {
            auto r =
                c.call_at(node, {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000", "TYPE", "hash"}, until);
            if (r.kind != reply::type::array || r.elements.size() != 2) fail("SCAN", r);
            cursor = r.elements[0].str;
            std::vector<std::string> keys;
            for (auto& k : r.elements[1].elements) keys.push_back(std::move(k.str));
            fn(keys);
        } while (cursor != "0");
    }

    // --- the follower: its own thread, its own connections (XREAD BLOCK holds one) ---

    void follow() {
        std::string last_id;
        std::uint64_t last_seq = 0;
        bool synced = false;
        std::chrono::milliseconds backoff = 50ms;
        auto next_sweep = clock::now() + 1min;
        for (;;) {
            {
                std::unique_lock lock(mutex_);
                if (stopping_) return;
            }
            try {
                if (!synced) {
                    reload(last_id, last_seq);
                    synced = true;
                    backoff = 50ms;
                }
                reread_pending();
                read_feed(last_id, last_seq, synced);
                if (clock::now() > next_sweep) {
                    std::lock_guard lock(mutex_);
                    index_->sweep(clock::now());
                    next_sweep = clock::now() + 1min;
                }
            } catch (const std::exception& e) {
                synced = false;
                std::unique_lock lock(mutex_);
                if (live_ || last_error_ != e.what()) spdlog::warn("registry: redis feed: {}", e.what());
                live_ = false;
                reloading_ = false;
                last_error_ = e.what();
                state_cv_.notify_all();
                state_cv_.wait_for(lock, backoff, [this] { return stopping_; });
                backoff = std::min<std::chrono::milliseconds>(backoff * 2, 1000ms);
            }
        }
    }

    void reload(std::string& last_id, std::uint64_t& last_seq) {
        {
            std::lock_guard lock(mutex_);
            reloading_ = true;
            touched_.clear();
        }
        for (;;) {
            const auto until = clock::now() + std::max<std::chrono::milliseconds>(options_.timeout, 10s);
            auto masters = feed_.masters(until);
            const auto map_version = feed_.slot_map_version();
            // The position first, then the devices: see the header, point 3.
            auto pos = feed_.call(feed_stream_, {"EVAL", position_lua, "2", feed_stream_, feed_seq_}, until);
            expect_array(pos, 2, "the feed position");
            auto fresh = std::make_unique<local_index>();
            for (const auto& node : masters) {
                scan_devices(feed_, node, until, [&](const std::vector<std::string>& keys) {
                    std::vector<std::vector<std::string>> loads;
                    for (const auto& k : keys) {
                        loads.push_back({"EVAL", load_lua, "2", k, k.substr(0, k.size() - 4) + "version"});
                    }
                    auto replies = feed_.pipeline_at(node, std::move(loads), until);
                    for (std::size_t i = 0; i < keys.size(); ++i) {
                        auto device = device_of(keys[i]);
                        // Moved away since the SCAN: ask through the redirecting path.
                        auto snap = replies[i].is_error() ? load_device(feed_, device)
                                                          : snapshot_from(device, replies[i]);
                        fresh->install(device, std::move(snap));
                    }
                });
            }
            if (options_.cluster) {
                feed_.refresh_slots(until);
                if (feed_.slot_map_version() != map_version)
                    continue;  // resharded meanwhile: SCAN may have missed keys
            }
            std::set<std::string> touched;
            {
                std::lock_guard lock(mutex_);
                index_ = std::move(fresh);
                reloading_ = false;
                touched.swap(touched_);
                ++reloads_;
            }
            // Our own writes made during the load: make sure the new index has them.
            for (const auto& device : touched) reread(device);
            {
                std::lock_guard lock(mutex_);
                last_id = pos.elements[0].str;
                last_seq = to_u64(pos.elements[1]);
                followed_ = last_seq;
                live_ = true;
                last_error_.clear();
            }
            state_cv_.notify_all();
            return;
        }
    }

    void reread(const std::string& device) {
        auto snap = load_device(feed_, device);
        std::lock_guard lock(mutex_);
        ++rereads_;
        index_->install(device, std::move(snap));
    }

    void reread_pending() {
        std::set<std::string> devices;
        {
            std::lock_guard lock(mutex_);
            devices.swap(reread_);
        }
        for (const auto& d : devices) reread(d);
    }

    void read_feed(std::string& last_id, std::uint64_t& last_seq, bool& synced) {
        constexpr auto block = 500ms;
        auto r = feed_.call(feed_stream_,
                            {"XREAD", "COUNT", "1000", "BLOCK", std::to_string(block.count()), "STREAMS",
                             feed_stream_, last_id},
                            clock::now() + block + options_.timeout);
        if (r.is_nil()) return;
        if (r.kind != reply::type::array || r.elements.empty() || r.elements[0].elements.size() != 2)
            fail("XREAD", r);
        for (const auto& entry : r.elements[0].elements[1].elements) {
            if (entry.elements.size() != 2) fail("XREAD", r);
            std::map<std::string, std::string, std::less<>> fields;
            const auto& flat = entry.elements[1].elements;
            for (std::size_t i = 0; i + 1 < flat.size(); i += 2) fields[flat[i].str] = flat[i + 1].str;
            std::uint64_t seq = 0;
            auto s = fields["s"];
            std::from_chars(s.data(), s.data() + s.size(), seq);
            if (seq != last_seq + 1) {
                // Entries were trimmed away while we were behind, or the feed restarted: reload.
                spdlog::warn("registry: gap in the redis feed (expected entry {}, got {}); reloading",
                             last_seq + 1, seq);
                std::lock_guard lock(mutex_);
                live_ = false;
                synced = false;
                return;
            }
            on_entry(fields);
            last_id = entry.elements[0].str;
            last_seq = seq;
        }
        {
            std::lock_guard lock(mutex_);
            followed_ = last_seq;
        }
        state_cv_.notify_all();
    }

    void on_entry(std::map<std::string, std::string, std::less<>>& fields) {
        const auto& device = fields["d"];
        std::uint64_t version = 0;
        std::from_chars(fields["v"].data(), fields["v"].data() + fields["v"].size(), version);
        const char op = fields["o"].empty() ? '?' : fields["o"][0];
        {
            std::lock_guard lock(mutex_);
            ++applied_;
            auto* d = index_->known(device);
            if (d != nullptr && version <= d->version) return;  // already reflected
            // A device we do not know may have older state that the load did not see (it was
            // empty then, say): only a re-read is safe. So is any jump in versions.
            if (d != nullptr && version == d->version + 1 && (op == 's' || op == 'u' || op == 'f')) {
                delta change{op, fields["c"], std::nullopt};
                if (op == 's') {
                    change.sub = from_stored(device, change.channel, fields["b"]);
                    if (!change.sub) return;
                }
                index_->apply(device, version, std::move(change));
                return;
            }
        }
        reread(device);
    }

    redis_options options_;
    detail::client commands_;
    detail::client feed_;
    const std::string feed_stream_;
    const std::string feed_seq_;

    std::mutex mutex_;
    std::condition_variable state_cv_;
    std::unique_ptr<local_index> index_;
    bool live_ = false;
    bool reloading_ = false;
    bool stopping_ = false;
    std::set<std::string> touched_;  // devices written locally during a reload
    std::set<std::string> reread_;   // devices whose local write skipped versions
    std::uint64_t reloads_ = 0, applied_ = 0, rereads_ = 0;
    std::uint64_t followed_ = 0;  // the feed's entries the index reflects, counted as `feed_seq_` does
    std::string last_error_;
    std::thread follower_;
};

}  // namespace

std::unique_ptr<redis_registry> open_redis_registry(redis_options options) {
    return std::make_unique<redis_registry_impl>(std::move(options));
}

}  // namespace sluice::redis
