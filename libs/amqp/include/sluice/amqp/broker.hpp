#pragma once
/// The queues of the graph on RabbitMQ (AMQP 0-9-1): the distributed shape of `sluice::queue`
/// (DESIGN.md §1, §6). Same contract as queue.hpp; this header states how it is kept on RabbitMQ
/// and what a RabbitMQ administrator sees.
///
/// Topology (all on the default exchange, routing key = queue name; everything durable):
///
/// | queue                   | arguments                                                   | holds |
/// |-------------------------|-------------------------------------------------------------|--------------------------------|
/// | `S` (partitions == 1)   | `x-queue-type: quorum`, `x-single-active-consumer: true`    | stage S's
/// messages             | | `S.0` … `S.{P-1}` (P>1) | same | messages whose key hashes to i | | `S.dead` |
/// `x-queue-type: quorum`                                      | S's dead letters, and markers  |
///
/// - Partition of a message: `partition_of(key, P)` = FNV-1a 64 of the key's bytes, modulo P
///   (messages with an empty key go to partition 0). Stable across processes and versions: every
///   instance must use the same `partitions`, changing it reorders keys in flight.
/// - Every queue name is partitioned, also one not declared at start (a per-instance queue such as
///   `websockets-transport.<instance>`): the first publish to it, or the first consumer, declares
///   it. The stages in `rabbitmq_options::queues` are declared when the broker starts.
/// - Per-key order: the single active consumer of each partition sees a key's messages in publish
///   order; a consumer consumes all partitions of its stage, so several instances share the
///   partitions and take over those of a dead one. Inside a consumer, a delivery whose key has an
///   unsettled earlier message is parked (still unacked) until that one is settled; release()
///   puts the parked ones of its key back with it, in order. Parked deliveries count against
///   `prefetch` (basic.qos).
/// - Messages are persistent (delivery mode 2) with headers `x-sluice-key` (string),
///   `x-sluice-op` (string), `x-sluice-hops` (int). `message::id` = connection generation << 40 |
///   delivery tag: unique within the process; an id from a lost connection is never reused.
/// - `publish`: every message is published in confirm mode; `done` runs (on the broker's publisher
///   thread) once all are confirmed, or with `sluice::unavailable("queue", …)` when one was not.
///   Publishes from all threads are batched: one confirm wait per batch.
/// - `settle` (on the consumer's thread; `done` runs before settle returns): the downstream
///   messages, the dead letters and the markers are published and confirmed first, then each
///   message is `basic.ack`ed. If that fails the messages come again (rejected back or redelivered
///   after the connection's loss): at least once, never lost. AMQP has no transaction across
///   queues, so "atomic" is kept as: never an ack without its publishes; if the connection fails
///   between the confirms and the ack, the downstream messages exist twice (same `op`, which the
///   next stage uses to drop the duplicate). A dead letter is the message (body,
///   key, op, hops) with `x-sluice-reason`, `x-sluice-dead-at` (ms since the epoch) and
///   `x-sluice-dead-id` (its id for `sluice dlq`, random 53 bits).
/// - Overtake markers (for replay order): when a consumer acks a message whose key it knows has a
///   dead letter in `S.dead` with no marker after it, it publishes (confirmed, before the ack) a
///   marker to `S.dead`: headers `x-sluice-marker: settled` and `x-sluice-key`, empty body. Replay
///   refuses a dead letter with a marker of its key behind it. A consumer knows the keys it (or
///   another consumer of S in this process) dead-lettered, and those found in `S.dead` when the
///   first consumer of S in this process started. Markers are at most one per dead letter;
///   replay drops those that no longer follow a dead letter of their key.
/// - Single active consumer does not rebalance: the consumer that registered first on a partition
///   keeps it until its connection goes, so an instance started later takes over partitions only
///   from a dead one (RabbitMQ 3.10 has no priorities for single active consumers).
/// - Outages: each consumer and the publisher have their own connection (rabbitmq-c connections are
///   not thread-safe), heartbeats, and reconnect by themselves with capped exponential backoff
///   (100 ms … 5 s). Meanwhile `problem()` says what is wrong, `fetch` returns nothing and
///   `publish`/`settle` fail with `unavailable`; RabbitMQ redelivers what a lost connection held.
/// - `stats(S)`: ready = messages in S's partitions (passive declares), in_flight = this
///   process's delivered and unsettled messages of S, dead = messages in `S.dead` (markers
///   included).
/// - Every blocking call has a deadline (`rabbitmq_options::timeout`); `fetch` never waits past
///   its `wait`.
#include <chrono>
#include <cstddef>
#include <memory>
#include <sluice/queue/queue.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::amqp {

struct rabbitmq_options {
    std::string url = "amqp://guest:guest@127.0.0.1:5672/%2f";
    /// Partitions of every queue (see the table above); all processes must agree.
    std::size_t partitions = 1;
    /// Stage names whose queues (partitions and `.dead`) are declared at start.
    std::vector<std::string> queues;
    /// Stages whose instances share each partition (competing consumers, no single active
    /// consumer): listeners, whose instances in several processes split the work. Each message is
    /// still processed once, but the order of one key is not kept across instances.
    std::set<std::string> shared_work;
    /// Deadline of a connect, of an RPC and of a confirm wait.
    std::chrono::milliseconds timeout{10000};
    /// AMQP heartbeat; a dead peer is noticed within about twice this. rabbitmq-c sends them only
    /// inside its calls: a consumer whose thread is away from fetch/settle longer than twice this
    /// loses its connection (its messages come again).
    std::chrono::seconds heartbeat{30};
};

/// The partition (0 … partitions-1) of a key: FNV-1a 64 modulo `partitions`.
std::size_t partition_of(std::string_view key, std::size_t partitions);
/// The RabbitMQ queue of partition `i` of `queue`: `queue` when partitions == 1, else `queue.i`.
std::string partition_queue(const std::string& queue, std::size_t i, std::size_t partitions);
/// The dead-letter queue of `queue`: `queue.dead`.
std::string dead_letter_queue(const std::string& queue);

/// Connects in the background: a RabbitMQ that cannot be reached is retried, reported by
/// `problem()`, never thrown. Throws `sluice::invalid_input` for a malformed url.
std::shared_ptr<queue::broker> open_rabbitmq(rabbitmq_options options);

/// Dead-letter administration (`sluice dlq`). `list("")` lists the stages of `options.queues`.
/// Each call opens its own connection and throws `sluice::unavailable` when it cannot. Listing is
/// a non-destructive browse of `S.dead`: basic.get without ack, then basic.nack (requeue) of all,
/// and a wait (bounded by `timeout`) until they are ready again, so a list or replay right after
/// sees them all. Replay publishes each replayed message to the end of its stage (confirmed),
/// then acks its dead letter. While one browse is in progress another sees only part of `S.dead`:
/// run one `sluice dlq` at a time per stage.
std::unique_ptr<queue::dead_letter_admin> open_rabbitmq_admin(rabbitmq_options options);

}  // namespace sluice::amqp
