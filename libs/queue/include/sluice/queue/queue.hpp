#pragma once
/// The durable queues that join the stages of the graph (DESIGN.md §1, §2, §6, §8). Stages never
/// see this interface: the stage runner (libs/pipeline) does. The embedded shape implements it on
/// SQLite; the distributed shape on RabbitMQ, where the same promises map to AMQP like this:
///
/// | promise here                         | embedded (SQLite)                  | RabbitMQ                                   |
/// |--------------------------------------|------------------------------------|--------------------------------------------|
/// | `publish` done = durable             | fsync'd group commit               | publisher confirm                          |
/// | `settle`: publishes, then the ack    | one transaction                    | confirm of every publish, then basic.ack   |
/// | one unsettled message per key        | the queue parks same-key messages  | partition by key, single active consumer,  |
/// |                                      |                                    | consumer parks same-key deliveries         |
/// | `prefetch`                           | counted per consumer               | basic.qos                                  |
/// | dead letters with a reason           | rows marked dead                   | DLX queue per stage, reason in a header    |
/// | `redelivered`                        | loaded at start / put back         | the delivery's redelivered flag            |
///
/// Contract:
/// - A message published is durable when the completion of `publish` (or `settle`) runs without
///   error; it is then delivered at least once: until settled it stays stored, and every unsettled
///   message is delivered again after a restart (`redelivered` set).
/// - Per queue, messages with the same non-empty `key` are delivered in publish order, and a
///   message is not delivered while an earlier one with its key is unsettled. Messages with
///   different keys (or no key) may be delivered concurrently to several consumers.
/// - Settling is atomic: the downstream messages and the ack (or the dead-lettering) become durable
///   together, or nothing does and the messages are delivered again.
/// - An outage of the backend is reported as `sluice::unavailable` (to the completion), never as
///   a fault of a message.
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sluice::queue {

/// What travels with a message through the graph besides its body.
struct headers {
    std::string op;          ///< the change's id (idempotency key), empty if none
    std::uint32_t hops = 0;  ///< stages the message has passed (limits.max_hops)
};

/// A message to publish.
struct outgoing {
    std::string queue;  ///< destination: a stage's name
    std::string key;    ///< ordering key, e.g. "app/model/id"; empty: no order
    struct headers headers;
    std::string body;
};

/// A message handed to a consumer.
struct message {
    std::uint64_t id = 0;  ///< unique within its queue
    std::string key;
    struct headers headers;
    std::string body;
    bool redelivered = false;  ///< delivered before (restart, or put back after a failed settlement)
    std::uint32_t attempt = 1;  ///< the consuming stage's attempt at it (counted by the stage runner)
};

/// What became of a delivered message.
struct settlement {
    enum class verdict { ack, dead_letter };
    std::uint64_t id = 0;
    verdict what = verdict::ack;
    std::vector<outgoing> publish;  ///< published atomically with the ack (ack only)
    std::string reason;             ///< dead_letter: why (kept with the dead letter)
};

/// Runs once, on an internal thread: null when durable, else `sluice::unavailable`.
using on_durable = std::function<void(std::exception_ptr)>;

struct queue_stats {
    std::uint64_t ready = 0;      ///< stored, not yet delivered
    std::uint64_t in_flight = 0;  ///< delivered, not yet settled
    std::uint64_t dead = 0;       ///< dead-lettered
};

/// One consumer of one queue, confined to the thread that uses it (as an AMQP channel is).
class consumer {
public:
    virtual ~consumer() = default;
    /// Up to `max` messages (never more than `prefetch` unsettled), waiting at most `wait` for the
    /// first; empty on timeout or after the broker stopped.
    virtual std::vector<message> fetch(std::size_t max, std::chrono::milliseconds wait) = 0;
    /// Settles delivered messages. On failure (reported to `done`) the messages are delivered again.
    virtual void settle(std::vector<settlement> settlements, on_durable done) = 0;
    /// Puts unsettled messages back (they are delivered again, `redelivered` set); the consumer's
    /// destructor does this for every message still unsettled.
    virtual void release(const std::vector<std::uint64_t>& ids) = 0;
};

class broker {
public:
    virtual ~broker() = default;
    virtual void publish(std::vector<outgoing> messages, on_durable done) = 0;
    /// Publishes and blocks until durable; throws what the completion reported.
    void publish_and_wait(std::vector<outgoing> messages);
    virtual std::unique_ptr<consumer> consume(const std::string& queue, std::size_t prefetch) = 0;
    virtual queue_stats stats(const std::string& queue) = 0;
    /// Null while the backend works; otherwise what is wrong (for /healthz).
    virtual std::optional<std::string> problem() = 0;
    /// Wakes every fetch, writes what is pending, refuses new work; returns when drained. Idempotent.
    virtual void stop() = 0;
};

/// A dead-lettered message as administration sees it.
struct dead_letter {
    std::string queue;
    std::uint64_t id = 0;
    std::string key;
    struct headers headers;
    std::string body;
    std::string reason;
    std::int64_t at = 0;  ///< ms since the epoch
};

struct replay_report {
    std::vector<std::uint64_t> replayed;
    /// Left dead, with why: replaying them would let an older change overtake newer ones.
    std::vector<std::pair<std::uint64_t, std::string>> refused;
};

/// Dead-letter administration (`sluice dlq`), usable from another process than the stages'.
///
/// Replay keeps per-document order: a dead letter is replayed only while no later message with its
/// key has been settled in its queue; otherwise it is refused with a reason (the newer change would
/// be overtaken by the older one). A replayed message goes back at the end of its queue.
class dead_letter_admin {
public:
    virtual ~dead_letter_admin() = default;
    /// Every dead letter, or those of `queue` when not empty, oldest first.
    virtual std::vector<dead_letter> list(const std::string& queue) = 0;
    /// Replays the dead letters of `queue` (all when `ids` is empty).
    virtual replay_report replay(const std::string& queue, const std::vector<std::uint64_t>& ids) = 0;
};

/// Tuning of the embedded queue.
struct embedded_options {
    /// Bodies of ready messages kept in memory; past it they are read back from the file on delivery.
    std::size_t memory_budget_bytes = 64 << 20;
};

/// The embedded queue: one SQLite database in WAL mode with synchronous=FULL. Publishes and
/// settlements from all threads are group-committed: one transaction (one fsync) per batch. About
/// once a second it also takes dead letters another process marked for replay (`sluice dlq replay`).
std::shared_ptr<broker> open_embedded(const std::string& file, embedded_options options = {});

/// Dead-letter administration of an embedded queue file (another process may be running on it).
std::unique_ptr<dead_letter_admin> open_embedded_admin(const std::string& file);

}  // namespace sluice::queue
