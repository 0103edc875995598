#include "client.hpp"

#include <sluice/core/error.hpp>
#include <sluice/redis/device_streams.hpp>

#include <map>
#include <mutex>
#include <unordered_map>

namespace sluice::redis {

namespace {

using detail::clock;
using detail::reply;

// KEYS: seq, log, ids of each device in turn. ARGV: identity, head, backlog, log ttl, seq ttl.
// -> the frame's number for each device.
constexpr const char* append_lua = R"(
local out = {}
for d = 0, #KEYS / 3 - 1 do
  local seqk, logk, idsk = KEYS[3 * d + 1], KEYS[3 * d + 2], KEYS[3 * d + 3]
  local have = redis.call('HGET', idsk, ARGV[1])
  if have then
    out[d + 1] = tonumber(have)
  else
    local seq = redis.call('INCR', seqk)
    local length = redis.call('RPUSH', logk, seq .. '\n' .. ARGV[1] .. '\n' .. ARGV[2])
    redis.call('HSET', idsk, ARGV[1], seq)
    local extra = length - tonumber(ARGV[3])
    for i = 1, extra do
      local old = redis.call('LPOP', logk)
      local a = string.find(old, '\n', 1, true)
      local b = string.find(old, '\n', a + 1, true)
      redis.call('HDEL', idsk, string.sub(old, a + 1, b - 1))
    end
    redis.call('EXPIRE', logk, ARGV[4])
    redis.call('EXPIRE', idsk, ARGV[4])
    redis.call('EXPIRE', seqk, ARGV[5])
    out[d + 1] = seq
  end
end
return out
)";

// KEYS: seq, log. ARGV: after ('' for none). -> {seq, resync (0|1), seq1, head1, seq2, head2, ...}
// Covered as in the embedded hub: nothing missed, or the backlog still starts at after + 1.
constexpr const char* read_lua = R"(
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[1] == '' then return {seq, 0} end
local after = tonumber(ARGV[1])
if after == seq then return {seq, 0} end
local entries = redis.call('LRANGE', KEYS[2], 0, -1)
if after > seq or #entries == 0 then return {seq, 1} end
local first = tonumber(string.sub(entries[1], 1, string.find(entries[1], '\n', 1, true) - 1))
if first > after + 1 then return {seq, 1} end
local out = {seq, 0}
for _, e in ipairs(entries) do
  local a = string.find(e, '\n', 1, true)
  local s = tonumber(string.sub(e, 1, a - 1))
  if s > after then
    local b = string.find(e, '\n', a + 1, true)
    out[#out + 1] = s
    out[#out + 1] = string.sub(e, b + 1)
  end
end
return out
)";

// KEYS: at. ARGV: instance. Removes the entry only if it still names this instance.
constexpr const char* detach_lua = R"(
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
)";

class shared_client {
public:
    explicit shared_client(const device_streams_options& o) : options_(o) {
        detail::client_options c;
        for (const auto& url : o.urls) c.seeds.push_back(detail::parse_url(url));
        if (c.seeds.empty()) throw invalid_input(errc::config_error, "redis device streams need at least one url");
        c.cluster = o.cluster;
        c.name = "device streams";
        client_ = std::make_unique<detail::client>(std::move(c));
    }

    std::string key(const std::string& device, const char* what) const { return options_.key_prefix + ":{" + device + "}:" + what; }
    std::string instance_key(const std::string& instance) const { return options_.key_prefix + ":instance:" + instance; }
    clock::time_point deadline() const { return clock::now() + options_.timeout; }

    /// One command per key, on the node owning each key (client::call_many: a pipeline per node).
    /// Error replies are thrown as outages of the devices backend.
    std::vector<reply> run(const std::vector<std::string>& keys, const std::vector<std::vector<std::string>>& commands) {
        return checked([&] { return client_->call_many(keys, commands, deadline()); });
    }

    /// `script` with each of `arguments` (numkeys, keys, argv), on the node owning the matching
    /// key: by its SHA1 (EVALSHA), and as a whole (EVAL, which also caches it there) on a node that
    /// does not know it yet, e.g. after a restart.
    std::vector<reply> eval(const char* script, const std::vector<std::string>& keys, const std::vector<std::vector<std::string>>& arguments) {
        return checked([&] {
            auto until = deadline();
            const auto sha = sha_of(script, until);
            std::vector<std::vector<std::string>> commands;
            commands.reserve(arguments.size());
            for (const auto& a : arguments) {
                commands.push_back({"EVALSHA", sha});
                commands.back().insert(commands.back().end(), a.begin(), a.end());
            }
            auto replies = client_->call_many(keys, commands, until);
            for (std::size_t i = 0; i < replies.size(); ++i) {
                if (!replies[i].is_error() || !replies[i].str.starts_with("NOSCRIPT")) continue;
                commands[i][0] = "EVAL";
                commands[i][1] = script;
                replies[i] = client_->call(keys[i], commands[i], until);
            }
            return replies;
        });
    }

    const device_streams_options& options() const { return options_; }

private:
    template <class Run>
    static std::vector<reply> checked(Run run) {
        try {
            auto replies = run();
            for (const auto& r : replies) {
                if (r.is_error()) throw unavailable("devices", "redis: " + r.str);
            }
            return replies;
        } catch (const unavailable& e) {
            if (e.backend() == "devices") throw;
            throw unavailable("devices", e.what());
        }
    }

    /// The SHA1 Redis names `script` by, asked once (SCRIPT LOAD; the same on every node).
    std::string sha_of(const char* script, clock::time_point until) {
        std::lock_guard lock(sha_mutex_);
        auto& sha = shas_[script];
        if (sha.empty()) {
            auto r = client_->call_at(client_->masters(until).at(0), {"SCRIPT", "LOAD", script}, until);
            if (r.is_error() || r.str.empty()) throw unavailable("devices", "redis: SCRIPT LOAD: " + r.str);
            sha = r.str;
        }
        return sha;
    }

    device_streams_options options_;
    std::unique_ptr<detail::client> client_;
    std::mutex sha_mutex_;
    std::map<const char*, std::string> shas_;
};

class redis_device_log final : public pipeline::device_log {
public:
    explicit redis_device_log(std::shared_ptr<shared_client> c) : c_(std::move(c)) {}

    std::vector<std::vector<std::uint64_t>> append(const std::vector<frame>& frames) override {
        const auto& o = c_->options();
        const auto log_ttl = std::to_string(std::max<long long>(1, 2 * o.grace_period.count()));
        const auto seq_ttl = std::to_string(o.seq_ttl.count());
        const auto backlog = std::to_string(std::max<std::size_t>(1, o.backlog));
        // On a single Redis one script run numbers every device of a frame; in a cluster each
        // device's keys are a slot of their own: one run each. All the runs go in one pipeline per
        // node, so a frame is numbered after the frames before it.
        std::vector<std::string> keys;
        std::vector<std::vector<std::string>> runs;
        std::vector<std::size_t> runs_per_frame;
        for (const auto& f : frames) {
            const std::string identity(pipeline::frame_identity(f.head));
            const std::size_t first = runs.size();
            for (const auto& device : f.devices) {
                if (runs.size() == first || o.cluster) {
                    keys.push_back(c_->key(device, "seq"));
                    runs.push_back({"0"});
                }
                for (const char* what : {"seq", "log", "ids"}) runs.back().push_back(c_->key(device, what));
            }
            for (auto i = first; i < runs.size(); ++i) {
                runs[i][0] = std::to_string(runs[i].size() - 1);
                for (const auto* arg : {&identity, &f.head, &backlog, &log_ttl, &seq_ttl}) runs[i].push_back(*arg);
            }
            runs_per_frame.push_back(runs.size() - first);
        }
        auto replies = c_->eval(append_lua, keys, runs);
        std::vector<std::vector<std::uint64_t>> out;
        std::size_t next = 0;
        for (std::size_t f = 0; f < frames.size(); ++f) {
            auto& seqs = out.emplace_back();
            for (std::size_t r = 0; r < runs_per_frame[f]; ++r, ++next) {
                for (const auto& e : replies.at(next).elements) seqs.push_back(static_cast<std::uint64_t>(e.integer));
            }
            if (seqs.size() != frames[f].devices.size()) throw unavailable("devices", "redis: unexpected reply to a device log append");
        }
        return out;
    }

    read_result read(const std::string& device, std::optional<std::uint64_t> after) override {
        auto replies = c_->eval(read_lua, {c_->key(device, "seq")},
                                {{"2", c_->key(device, "seq"), c_->key(device, "log"), after ? std::to_string(*after) : std::string()}});
        const auto& r = replies.at(0);
        read_result out;
        if (r.elements.size() < 2) throw unavailable("devices", "redis: unexpected reply to a device log read");
        out.seq = static_cast<std::uint64_t>(r.elements[0].integer);
        out.resync_required = r.elements[1].integer != 0;
        for (std::size_t i = 2; i + 1 < r.elements.size(); i += 2) {
            out.frames.emplace_back(static_cast<std::uint64_t>(r.elements[i].integer), r.elements[i + 1].str);
        }
        return out;
    }

private:
    std::shared_ptr<shared_client> c_;
};

class redis_device_directory final : public pipeline::device_directory {
public:
    explicit redis_device_directory(std::shared_ptr<shared_client> c) : c_(std::move(c)) {}

    void attach(const std::string& device, const std::string& instance) override {
        c_->run({c_->key(device, "at")}, {{"SET", c_->key(device, "at"), instance}});
    }

    void detach(const std::string& device, const std::string& instance) override {
        c_->eval(detach_lua, {c_->key(device, "at")}, {{"1", c_->key(device, "at"), instance}});
    }

    std::vector<std::string> locate(const std::vector<std::string>& devices) override {
        std::vector<std::string> keys;
        std::vector<std::vector<std::string>> commands;
        for (const auto& device : devices) {
            keys.push_back(c_->key(device, "at"));
            commands.push_back({"GET", keys.back()});
        }
        auto replies = c_->run(keys, std::move(commands));
        std::vector<std::string> where;
        for (const auto& r : replies) where.push_back(r.is_nil() ? std::string() : r.str);
        for (auto& instance : where) {
            if (!instance.empty() && !alive(instance)) instance.clear();
        }
        return where;
    }

    void beat(const std::string& instance, std::chrono::seconds ttl) override {
        c_->run({c_->instance_key(instance)}, {{"SET", c_->instance_key(instance), "1", "EX", std::to_string(ttl.count())}});
    }

private:
    /// Whether an instance beats, remembered for a second (one lookup per instance, not per frame).
    bool alive(const std::string& instance) {
        auto now = clock::now();
        {
            std::lock_guard lock(mutex_);
            auto it = alive_.find(instance);
            if (it != alive_.end() && now - it->second.first < std::chrono::seconds(1)) return it->second.second;
        }
        auto r = c_->run({c_->instance_key(instance)}, {{"EXISTS", c_->instance_key(instance)}});
        bool yes = r.at(0).integer != 0;
        std::lock_guard lock(mutex_);
        if (alive_.size() > 10000) alive_.clear();
        alive_[instance] = {now, yes};
        return yes;
    }

    std::shared_ptr<shared_client> c_;
    std::mutex mutex_;
    std::unordered_map<std::string, std::pair<clock::time_point, bool>> alive_;
};

}  // namespace

device_streams open_redis_device_streams(device_streams_options options) {
    auto c = std::make_shared<shared_client>(options);
    return {std::make_shared<redis_device_log>(c), std::make_shared<redis_device_directory>(c)};
}

}  // namespace sluice::redis
