#pragma once
// Naming and message formats shared by the broker and the admin (see broker.hpp).
#include <chrono>
#include <sluice/queue/queue.hpp>
#include <string>
#include <unordered_set>

#include "connection.hpp"

namespace sluice::amqp::detail {

/// Whether the partitions of `stage` have a single active consumer (all but `shared_work`).
bool single_active(const rabbitmq_options& o, const std::string& stage);

/// Declares the partitions of `stage` and its `.dead` queue; returns the messages ready in the
/// partitions and in `.dead`.
std::pair<std::uint64_t, std::uint64_t> declare_stage(connection& c, const std::string& stage, const rabbitmq_options& o);

/// `m` as published to its partition of `partitions`.
wire_message to_wire(const queue::outgoing& m, std::size_t partitions);

/// The dead letter of a message of `stage`.
wire_message dead_letter_of(const std::string& stage, const std::string& key, const queue::headers& h,
                            const std::string& body, const std::string& reason);

/// The marker saying a message of `key` was settled in `stage` after its dead letters.
wire_message marker_of(const std::string& stage, const std::string& key);

bool is_marker(const received& r);

/// Every message of `queue`, oldest first, by basic.get without ack: they stay unacked (and
/// invisible to others) until the connection or channel closes.
std::vector<received> browse(connection& c, const std::string& queue);

/// Puts back what `browse` took and waits (at most `timeout`) until `queue` counts at least
/// `expected` ready messages again: RabbitMQ requeues asynchronously, and a browse right after
/// (list, then replay) must see them.
void give_back(connection& c, const std::string& queue, std::size_t expected,
               std::chrono::milliseconds timeout);

/// Keys with a dead letter in `dead` that no marker follows.
std::unordered_set<std::string> unmarked_dead_keys(const std::vector<received>& dead);

}  // namespace sluice::amqp::detail
