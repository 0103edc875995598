#pragma once
/// The durable queues that connect stages (DESIGN.md §1, §2, §6). Stages know only this interface:
/// the embedded shape implements it on SQLite, the distributed shape on RabbitMQ.
///
/// Contract: a published message is durable when `publish`'s completion runs without error. It is
/// delivered by `fetch` at least once: until acked it stays stored, and after a restart every
/// unacked message is delivered again, in publish order. Messages of one queue are fetched in
/// publish order. Thread-safe.
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace sluice::queue {

struct message {
    std::uint64_t id = 0;
    std::string body;
};

struct dead_message {
    std::uint64_t id = 0;
    std::string body;
    std::string reason;
};

struct queue_stats {
    std::uint64_t ready = 0;      ///< stored, not yet fetched
    std::uint64_t in_flight = 0;  ///< fetched, not yet acked
    std::uint64_t dead = 0;       ///< dead-lettered
};

class queue {
public:
    /// Runs once the messages are durable (null) or could not be stored; on an internal thread.
    using on_durable = std::function<void(std::exception_ptr)>;

    virtual ~queue() = default;

    virtual void publish(const std::string& name, std::vector<std::string> bodies, on_durable done) = 0;
    /// Publishes and blocks until durable; throws what the store threw.
    void publish_and_wait(const std::string& name, std::vector<std::string> bodies);

    /// Up to `max` messages, waiting at most `wait` for the first; empty on timeout or after stop().
    virtual std::vector<message> fetch(const std::string& name, std::size_t max, std::chrono::milliseconds wait) = 0;
    /// The messages' effects are done: remove them.
    virtual void ack(const std::string& name, std::span<const std::uint64_t> ids) = 0;
    /// Moves a message that cannot be processed out of the way, keeping it for inspection/replay.
    virtual void dead_letter(const std::string& name, std::uint64_t id, const std::string& reason) = 0;
    virtual std::vector<dead_message> dead_letters(const std::string& name) = 0;
    /// Puts every dead-lettered message of `name` back at the end of the queue; returns how many.
    virtual std::size_t replay_dead_letters(const std::string& name) = 0;

    virtual queue_stats stats(const std::string& name) = 0;
    /// Wakes every fetch, writes what is pending and refuses new work. Idempotent.
    virtual void stop() = 0;
};

/// The embedded queue: one SQLite database in WAL mode with synchronous=FULL. Publishes and acks
/// from all threads are group-committed: one transaction (one fsync) per batch. About once a
/// second it also picks up dead letters another process marked for replay (`sluice dlq replay`).
std::unique_ptr<queue> open_embedded(const std::filesystem::path& file);

/// Dead letters of an embedded queue file, read by another process (`sluice dlq list`); all
/// queues when `name` is empty.
struct stored_dead_message : dead_message {
    std::string queue;
};
std::vector<stored_dead_message> list_embedded_dead_letters(const std::filesystem::path& file, const std::string& name);

/// Marks the dead letters of queue `name` for replay: a running server puts them back at the end of
/// the queue within about a second, a stopped one at its next start. Returns how many.
std::size_t replay_embedded_dead_letters(const std::filesystem::path& file, const std::string& name);

}  // namespace sluice::queue
