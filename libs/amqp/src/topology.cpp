#include "topology.hpp"

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

namespace sluice::amqp {

std::size_t partition_of(std::string_view key, std::size_t partitions) {
    if (partitions <= 1 || key.empty()) return 0;
    std::uint64_t hash = 14695981039346656037ull;  // FNV-1a 64
    for (unsigned char c : key) {
        hash ^= c;
        hash *= 1099511628211ull;
    }
    return static_cast<std::size_t>(hash % partitions);
}

std::string partition_queue(const std::string& queue, std::size_t i, std::size_t partitions) {
    return partitions <= 1 ? queue : queue + "." + std::to_string(i);
}

std::string dead_letter_queue(const std::string& queue) {
    return queue + ".dead";
}

namespace detail {

namespace {

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t new_dead_id() {
    static thread_local std::mt19937_64 random{std::random_device{}()};
    return static_cast<std::int64_t>(random() & ((1ull << 53) - 1));  // exact in JSON numbers
}

}  // namespace

bool single_active(const rabbitmq_options& o, const std::string& stage) { return o.shared_work.count(stage) == 0; }

std::pair<std::uint64_t, std::uint64_t> declare_stage(connection& c, const std::string& stage, const rabbitmq_options& o) {
    std::uint64_t ready = 0;
    for (std::size_t i = 0; i < std::max<std::size_t>(o.partitions, 1); ++i)
        ready += c.declare(partition_queue(stage, i, o.partitions), single_active(o, stage));
    return {ready, c.declare(dead_letter_queue(stage), false)};
}

wire_message to_wire(const queue::outgoing& m, std::size_t partitions) {
    wire_message w;
    w.queue = partition_queue(m.queue, partition_of(m.key, partitions), partitions);
    w.body = m.body;
    w.strings = {{key_header, m.key}, {op_header, m.headers.op}};
    w.ints = {{hops_header, m.headers.hops}};
    return w;
}

wire_message dead_letter_of(const std::string& stage, const std::string& key, const queue::headers& h,
                            const std::string& body, const std::string& reason) {
    wire_message w;
    w.queue = dead_letter_queue(stage);
    w.body = body;
    w.strings = {{key_header, key}, {op_header, h.op}, {reason_header, reason}};
    w.ints = {{hops_header, h.hops}, {dead_at_header, now_ms()}, {dead_id_header, new_dead_id()}};
    return w;
}

wire_message marker_of(const std::string& stage, const std::string& key) {
    wire_message w;
    w.queue = dead_letter_queue(stage);
    w.strings = {{marker_header, "settled"}, {key_header, key}};
    return w;
}

bool is_marker(const received& r) {
    return !r.string_header(marker_header).empty();
}

std::vector<received> browse(connection& c, const std::string& queue) {
    std::vector<received> out;
    while (auto r = c.get(queue)) out.push_back(std::move(*r));
    return out;
}

void give_back(connection& c, const std::string& queue, std::size_t expected,
               std::chrono::milliseconds timeout) {
    c.requeue_all();
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (c.declare(queue, false) < expected && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // a poll interval
    }
}

std::unordered_set<std::string> unmarked_dead_keys(const std::vector<received>& dead) {
    std::unordered_set<std::string> keys;
    for (const auto& r : dead) {
        auto key = r.string_header(key_header);
        if (key.empty()) continue;
        if (is_marker(r)) {
            keys.erase(key);
        } else {
            keys.insert(key);
        }
    }
    return keys;
}

}  // namespace detail
}  // namespace sluice::amqp
