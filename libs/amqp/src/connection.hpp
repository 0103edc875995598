#pragma once
// The only layer that talks to rabbitmq-c. A connection is used by one thread at a time; every
// failure throws sluice::unavailable("queue", ...) and leaves the connection broken (the owner
// drops it and connects anew).
#include <amqp.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <sluice/amqp/broker.hpp>
#include <sluice/queue/queue.hpp>
#include <string>
#include <vector>

namespace sluice::amqp::detail {

inline constexpr const char* backend = "queue";
inline constexpr amqp_channel_t channel = 1;

inline constexpr const char* key_header = "x-sluice-key";
inline constexpr const char* op_header = "x-sluice-op";
inline constexpr const char* hops_header = "x-sluice-hops";
inline constexpr const char* reason_header = "x-sluice-reason";
inline constexpr const char* dead_at_header = "x-sluice-dead-at";
inline constexpr const char* dead_id_header = "x-sluice-dead-id";
inline constexpr const char* marker_header = "x-sluice-marker";

struct endpoint {
    std::string host, user, password, vhost;
    int port = 5672;
};

/// Parses an amqp:// url; throws sluice::invalid_input.
endpoint parse_url(const std::string& url);

/// A message as it is published: routing key = the RabbitMQ queue.
struct wire_message {
    std::string queue;  // RabbitMQ queue (a partition or a .dead queue)
    std::string body;
    std::vector<std::pair<std::string, std::string>> strings;  // string headers
    std::vector<std::pair<std::string, std::int64_t>> ints;    // integer headers
};

/// What a delivery or a basic.get carries.
struct received {
    std::uint64_t tag = 0;
    bool redelivered = false;
    std::string queue;  // the RabbitMQ queue it came from (routing key)
    std::string body;
    std::vector<std::pair<std::string, std::string>> strings;
    std::vector<std::pair<std::string, std::int64_t>> ints;
    std::string string_header(const char* name) const;
    std::int64_t int_header(const char* name) const;
};

class connection {
  public:
    /// Connects, logs in and opens channel 1; every step bounded by `timeout`.
    connection(const endpoint& where, std::chrono::milliseconds timeout, std::chrono::seconds heartbeat);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    void set_rpc_timeout(std::chrono::milliseconds timeout);
    void confirm_select();
    void qos(std::uint16_t prefetch);
    /// Declares a durable quorum queue (single active consumer if `sac`); returns its message
    /// count. Passive: only asks for the count (throws when the queue does not exist). The queues
    /// of one instance of a stage (`stage@instance`, a websockets-transport's own) expire after
    /// `instance_queue_expiry` without a consumer: an instance that is gone for good leaves no
    /// queue behind (what it had not sent is in the device log).
    std::uint32_t declare(const std::string& queue, bool sac, bool passive = false);
    static constexpr std::chrono::milliseconds instance_queue_expiry{30 * 60 * 1000};
    void consume(const std::string& queue);
    /// Publishes persistently; in confirm mode returns the message's sequence number.
    std::uint64_t publish(const wire_message& m);
    /// Waits until every message up to `last` is confirmed. Throws on a nack or by `deadline`.
    void wait_confirms(std::uint64_t last, std::chrono::steady_clock::time_point deadline);
    /// The next delivery, waiting at most `wait` (zero: only what is already buffered or
    /// readable). Services heartbeats.
    std::optional<received> next_delivery(std::chrono::milliseconds wait);
    /// basic.get without ack; nothing when the queue is empty.
    std::optional<received> get(const std::string& queue);
    void ack(std::uint64_t tag);
    /// basic.nack of every unacked message of the channel, back to its queue.
    void requeue_all();
    void reject(std::uint64_t tag, bool requeue);
    /// Reads what is pending (heartbeats, confirms) without waiting.
    void poll();
    bool broken() const { return broken_; }

  private:
    [[noreturn]] void fail(const std::string& what);
    void check(amqp_rpc_reply_t reply, const std::string& what);
    void check_status(int status, const std::string& what);
    void handle_frame(const amqp_frame_t& frame);

    amqp_connection_state_t state_ = nullptr;
    bool broken_ = false;
    bool confirming_ = false;
    std::uint64_t next_seq_ = 1;
    std::uint64_t confirmed_ = 0;          // every seq <= this is acked
    std::set<std::uint64_t> acked_above_;  // single acks above confirmed_
    bool nacked_ = false;
};

}  // namespace sluice::amqp::detail
