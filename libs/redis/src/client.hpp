#pragma once
// A small synchronous-looking Redis client for the registry: hiredis 0.14 async contexts driven by
// an Asio io_context on the client's own thread, and calls that block their caller until a reply
// or a deadline. Callers are never event-loop threads (the API's blocking pool, stage threads, the
// registry's feed thread), so blocking them is fine; the io thread itself never blocks.
//
// In cluster mode the client keeps the slot map (`CLUSTER SLOTS`), sends a command to the master
// owning its key's slot, follows `MOVED` (remember the new owner, refresh the map, retry) and `ASK`
// (`ASKING` then the command on the target, on one connection), and retries `TRYAGAIN`,
// `CLUSTERDOWN`, `LOADING` and connection failures with capped backoff until the deadline. What
// cannot be done by the deadline throws `sluice::unavailable("registry", ...)`.
//
// No hiredis or Asio type appears here: they stay in client.cpp.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::redis::detail {

using clock = std::chrono::steady_clock;

/// A reply, copied out of hiredis (whose reply objects die with the callback).
struct reply {
    enum class type { nil, integer, string, status, error, array };
    type kind = type::nil;
    long long integer = 0;
    std::string str;  ///< string, status and error replies
    std::vector<reply> elements;

    bool is_error() const noexcept { return kind == type::error; }
    bool is_nil() const noexcept { return kind == type::nil; }
};

struct endpoint {
    std::string host;
    int port = 6379;
    std::string to_string() const { return host + ":" + std::to_string(port); }
    friend bool operator==(const endpoint&, const endpoint&) = default;
};

/// `redis://host:port` (or `host:port`); throws `invalid_input` otherwise. No TLS, no auth
/// (hiredis 0.14 has no TLS; Redis is reached on loopback or a private network).
endpoint parse_url(std::string_view url);

/// CRC16 (XMODEM) of the key's hash tag (the text between the first `{` and the next `}`, when
/// not empty) or of the whole key, modulo 16384: the Redis Cluster key slot.
unsigned key_slot(std::string_view key) noexcept;

struct client_options {
    std::vector<endpoint> seeds;  ///< standalone: the first one is the server
    bool cluster = false;
    std::string name;  ///< for logs
};

class client {
  public:
    explicit client(client_options options);
    ~client();  ///< stops the io thread; calls still waiting fail with `unavailable`
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    /// Makes waiting calls give up (with `unavailable`) instead of retrying until their
    /// deadline: for a fast shutdown of the caller threads. The client stays usable for nothing.
    void stop();

    /// Runs `args` on the node that owns `key` (any node in standalone mode), following
    /// redirections and retrying outages until `deadline`. Error replies other than redirections
    /// and transient cluster states are returned, not thrown. A command that is not `idempotent`
    /// is not sent again once it may have run (its connection broke after sending it, or no
    /// answer came in time): that throws `unavailable` at once, since a second run could give
    /// another answer.
    reply call(std::string_view key, const std::vector<std::string>& args, clock::time_point deadline,
               bool idempotent = true);

    /// Runs each of `commands` like `call` (idempotent) on the node owning the matching entry of
    /// `keys`, the replies in order: each node's share as one pipeline, all nodes at once; what a
    /// pipeline could not do (a redirection, a transient state, a broken connection) goes through
    /// `call` afterwards. Commands on one key run in the order given, once each on success (a
    /// broken pipeline may have run some of its commands before they are sent again).
    std::vector<reply> call_many(const std::vector<std::string>& keys,
                                 const std::vector<std::vector<std::string>>& commands, clock::time_point deadline);

    /// Runs `args` on one node, without redirection or retry; throws `unavailable` when the node
    /// cannot be reached or does not answer by the deadline.
    reply call_at(const endpoint& node, const std::vector<std::string>& args, clock::time_point deadline);

    /// Runs `commands` back to back on one node (a pipeline), without redirection or retry; the
    /// replies in order. Throws `unavailable` like `call_at`.
    std::vector<reply> pipeline_at(const endpoint& node, std::vector<std::vector<std::string>> commands,
                                   clock::time_point deadline);

    /// The masters that hold slots (the server, in standalone mode); refreshes the slot map first
    /// in cluster mode.
    std::vector<endpoint> masters(clock::time_point deadline);

    /// A number that changes whenever the slot map does (0 in standalone mode).
    std::uint64_t slot_map_version() const;

    /// How many `MOVED` and `ASK` redirections calls have followed so far.
    struct redirections {
        std::uint64_t moved = 0, asked = 0;
    };
    redirections followed() const;

    /// Refreshes the cluster slot map now (no-op in standalone mode).
    void refresh_slots(clock::time_point deadline);

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace sluice::redis::detail
