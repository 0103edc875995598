#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <sluice/queue/queue.hpp>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using namespace sluice::queue;
using sluice::testing::eventually;
using sluice::testing::options;
using sluice::testing::unique_queue;

std::vector<outgoing> to(const std::string& queue, std::vector<std::string> bodies,
                         const std::string& key = "") {
    std::vector<outgoing> out;
    for (auto& b : bodies) out.push_back({queue, key, {"op-" + b, 0}, std::move(b)});
    return out;
}

std::vector<std::string> bodies(const std::vector<message>& ms) {
    std::vector<std::string> out;
    for (const auto& m : ms) out.push_back(m.body);
    return out;
}

/// Settles and waits until durable (rethrows a failure).
void settle(consumer& c, std::vector<settlement> s) {
    std::promise<void> done;
    c.settle(std::move(s), [&](std::exception_ptr e) { e ? done.set_exception(e) : done.set_value(); });
    done.get_future().get();
}

settlement ack(const message& m, std::vector<outgoing> publish = {}) {
    return {m.id, settlement::verdict::ack, std::move(publish), {}};
}

/// Fetches until `n` messages arrived or `timeout` passed.
std::vector<message> fetch_n(consumer& c, std::size_t n, std::chrono::milliseconds timeout = 10s) {
    std::vector<message> out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
        for (auto& m : c.fetch(n - out.size(), 100ms)) out.push_back(std::move(m));
    }
    return out;
}

TEST(RabbitmqBroker, PartitionHashIsStableFnv1a) {
    EXPECT_EQ(sluice::amqp::partition_of("", 8), 0u);
    EXPECT_EQ(sluice::amqp::partition_of("anything", 1), 0u);
    // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c
    EXPECT_EQ(sluice::amqp::partition_of("a", 1000), 0xaf63dc4c8601ec8cull % 1000);
    EXPECT_EQ(sluice::amqp::partition_queue("writer", 3, 4), "writer.3");
    EXPECT_EQ(sluice::amqp::partition_queue("writer", 0, 1), "writer");
}

TEST(RabbitmqBroker, PublishConsumeSettleWithDownstreamPublishes) {
    auto a = unique_queue("a"), b = unique_queue("b");
    auto q = sluice::amqp::open_rabbitmq(options({a, b}));
    q->publish_and_wait({{a, "doc-1", {"op-1", 2}, "one"}, {a, "doc-2", {"op-2", 0}, "two"}});
    auto c = q->consume(a, 16);
    auto got = fetch_n(*c, 2);
    ASSERT_EQ(bodies(got), (std::vector<std::string>{"one", "two"}));
    EXPECT_EQ(got[0].key, "doc-1");
    EXPECT_EQ(got[0].headers.op, "op-1");
    EXPECT_EQ(got[0].headers.hops, 2u);
    EXPECT_FALSE(got[0].redelivered);
    EXPECT_NE(got[0].id, got[1].id);
    EXPECT_EQ(q->stats(a).in_flight, 2u);
    settle(*c, {ack(got[0], {{b, "doc-1", {"op-1", 3}, "one-b"}}), ack(got[1])});
    auto s = q->stats(a);
    EXPECT_EQ(s.ready, 0u);
    EXPECT_EQ(s.in_flight, 0u);
    EXPECT_EQ(q->stats(b).ready, 1u);  // confirmed before the ack
    auto cb = q->consume(b, 16);
    auto down = fetch_n(*cb, 1);
    ASSERT_EQ(bodies(down), (std::vector<std::string>{"one-b"}));
    EXPECT_EQ(down[0].headers.hops, 3u);
    settle(*cb, {ack(down[0])});
    EXPECT_TRUE(c->fetch(10, 200ms).empty());
    EXPECT_FALSE(q->problem());
}

TEST(RabbitmqBroker, APublishToAQueueNotDeclaredYetDeclaresIt) {
    auto instance = unique_queue("websockets-transport.instance-7");  // not in options.queues
    auto q = sluice::amqp::open_rabbitmq(options({}, 2));
    q->publish_and_wait({{instance, "device-1", {"op", 1}, "frame"}});
    auto s = q->stats(instance);
    EXPECT_EQ(s.ready, 1u);
    auto c = q->consume(instance, 8);
    auto got = fetch_n(*c, 1);
    ASSERT_EQ(bodies(got), (std::vector<std::string>{"frame"}));
    settle(*c, {ack(got[0])});
}

TEST(RabbitmqBroker, TheQueuesOfAnInstanceExpireWithoutConsumer) {
    auto stage = unique_queue("websockets-transport");
    auto instance = stage + "@host-1-abc";  // pipeline::instance_queue
    auto q = sluice::amqp::open_rabbitmq(options({stage}, 2));
    q->publish_and_wait({{instance, "device-1", {"op", 1}, "frame"}});
    auto listing = sluice::testing::rabbitmq_ctl("ctl list_queues name arguments");
    for (const auto& name : {instance + ".0", instance + ".1", stage + ".0"}) {
        auto at = listing.find(name + "\t");
        ASSERT_NE(at, std::string::npos) << name << " in " << listing;
        auto line = listing.substr(at, listing.find('\n', at) - at);
        EXPECT_EQ(line.find("x-expires") != std::string::npos, name != stage + ".0") << line;
    }
    EXPECT_EQ(q->stats(instance).ready, 1u);  // declaring it again agrees with its arguments
}

TEST(RabbitmqBroker, QuorumQueuesWithSingleActiveConsumer) {
    auto a = unique_queue("sac");
    auto q = sluice::amqp::open_rabbitmq(options({a}, 2));
    auto listing = sluice::testing::rabbitmq_ctl("ctl list_queues name type arguments");
    for (const auto& name : {a + ".0", a + ".1", a + ".dead"}) {
        auto line = listing.substr(listing.find(name + "\t"));
        line = line.substr(0, line.find('\n'));
        EXPECT_NE(line.find("quorum"), std::string::npos) << line;
        EXPECT_EQ(line.find("x-single-active-consumer") != std::string::npos, name != a + ".dead") << line;
    }
    // Two consumers of the same partitions: one is active (whichever registered first), the other
    // takes over when it goes.
    std::unique_ptr<consumer> c[2] = {q->consume(a, 64), q->consume(a, 64)};
    EXPECT_TRUE(c[0]->fetch(1, 300ms).empty());
    EXPECT_TRUE(c[1]->fetch(1, 300ms).empty());
    std::vector<outgoing> batch;
    for (int i = 0; i < 20; ++i) batch.push_back({a, "doc-" + std::to_string(i), {}, std::to_string(i)});
    q->publish_and_wait(batch);
    std::vector<message> got[2];
    ASSERT_TRUE(eventually([&] {
        for (int i = 0; i < 2; ++i) {
            for (auto& m : c[i]->fetch(20, 50ms)) got[i].push_back(std::move(m));
        }
        return got[0].size() + got[1].size() >= 20;
    }));
    // Each partition has one active consumer: the consumers share the partitions, never one.
    std::set<std::size_t> partitions[2];
    for (int i = 0; i < 2; ++i) {
        for (const auto& m : got[i]) partitions[i].insert(sluice::amqp::partition_of(m.key, 2));
    }
    for (auto p : partitions[0])
        EXPECT_FALSE(partitions[1].count(p)) << "partition " << p << " had two active consumers";
    EXPECT_EQ(got[0].size() + got[1].size(), 20u);
    auto gone = got[0].empty() ? 1 : 0;
    auto expected = got[gone].size();
    c[gone].reset();  // unsettled: back to the queue, and to the consumer that takes over
    auto taken = fetch_n(*c[1 - gone], expected, 10s);
    EXPECT_EQ(taken.size(), expected);
    for (const auto& m : taken) EXPECT_TRUE(m.redelivered);
}

TEST(RabbitmqBroker, PerKeyOrderWithTwoConsumersAndFourPartitions) {
    auto a = unique_queue("order");
    auto q = sluice::amqp::open_rabbitmq(options({a}, 4));
    constexpr int keys = 40, per_key = 50;
    // A quorum queue declared a moment ago may refuse (nack) publishes until its leader is
    // elected: the publisher reports that as an outage and its callers try again. So does this
    // test, with probes (ignored below) until every partition takes them.
    EXPECT_TRUE(eventually([&] {
        std::vector<outgoing> probes;
        for (int k = 0; k < keys; ++k) probes.push_back({a, "doc-" + std::to_string(k), {}, "probe"});
        try {
            q->publish_and_wait(probes);
            return true;
        } catch (const sluice::unavailable&) {
            return false;
        }
    }));
    std::mutex mutex;
    std::map<std::string, std::vector<int>> seen;  // key -> sequence numbers in delivery order
    std::atomic<int> received{0};
    std::atomic<bool> done{false};
    auto work = [&](int who) {
        auto c = q->consume(a, 32);
        while (!done) {
            auto batch = c->fetch(16, 100ms);
            std::vector<settlement> s;
            int counted = 0;
            for (const auto& m : batch) {
                s.push_back(ack(m));
                if (m.body == "probe") continue;
                ++counted;
                std::lock_guard lock(mutex);
                seen[m.key].push_back(std::stoi(m.body));
            }
            try {
                if (!s.empty()) settle(*c, std::move(s));
            } catch (const std::exception& e) {
                ADD_FAILURE() << "settle failed: " << e.what();
                return;
            }
            received += counted;
        }
        (void)who;
    };
    std::thread t1(work, 1), t2(work, 2);
    sluice::testing::finally join([&] {
        done = true;
        if (t1.joinable()) t1.join();
        if (t2.joinable()) t2.join();
    });
    for (int round = 0; round < per_key; ++round) {
        std::vector<outgoing> batch;
        for (int k = 0; k < keys; ++k)
            batch.push_back({a, "doc-" + std::to_string(k), {}, std::to_string(round)});
        q->publish_and_wait(batch);
    }
    EXPECT_TRUE(eventually([&] { return received >= keys * per_key; }));
    done = true;
    t1.join();
    t2.join();
    EXPECT_EQ(received, keys * per_key);
    ASSERT_EQ(seen.size(), static_cast<std::size_t>(keys));
    for (const auto& [key, seq] : seen) {
        std::vector<int> expected(per_key);
        for (int i = 0; i < per_key; ++i) expected[i] = i;
        EXPECT_EQ(seq, expected) << key;
    }
    auto s = q->stats(a);
    EXPECT_EQ(s.ready, 0u);
    EXPECT_EQ(s.in_flight, 0u);
}

TEST(RabbitmqBroker, ParksSameKeyDeliveriesUntilSettled) {
    auto a = unique_queue("park");
    auto q = sluice::amqp::open_rabbitmq(options({a}));
    q->publish_and_wait(to(a, {"k1", "k2"}, "doc-1"));
    q->publish_and_wait(to(a, {"other"}, "doc-2"));
    auto c = q->consume(a, 64);
    auto first = fetch_n(*c, 2);
    EXPECT_EQ(bodies(first), (std::vector<std::string>{"k1", "other"}));  // k2 waits behind k1
    EXPECT_TRUE(c->fetch(10, 300ms).empty());
    EXPECT_EQ(q->stats(a).in_flight, 3u);  // k2 is delivered by RabbitMQ, parked here
    // Released: k1 goes back with k2 behind it, in order.
    c->release({first[0].id});
    auto again = fetch_n(*c, 1);
    ASSERT_EQ(bodies(again), (std::vector<std::string>{"k1"}));
    EXPECT_TRUE(again[0].redelivered);
    EXPECT_TRUE(c->fetch(10, 300ms).empty());
    settle(*c, {ack(again[0]), ack(first[1])});
    auto next = fetch_n(*c, 1);
    ASSERT_EQ(bodies(next), (std::vector<std::string>{"k2"}));
    settle(*c, {ack(next[0])});
    EXPECT_EQ(q->stats(a).in_flight, 0u);
}

TEST(RabbitmqBroker, ConnectionLossRedeliversUnsettledAndConsumerRecovers) {
    auto a = unique_queue("lost");
    auto q = sluice::amqp::open_rabbitmq(options({a}));
    q->publish_and_wait(to(a, {"1", "2"}));
    auto c = q->consume(a, 64);
    auto got = fetch_n(*c, 2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_FALSE(got[0].redelivered);
    sluice::testing::rabbitmq_ctl("ctl close_all_connections test");
    // The consumer notices, reconnects by itself, and RabbitMQ delivers both again.
    auto again = fetch_n(*c, 2, 20s);
    ASSERT_EQ(bodies(again), (std::vector<std::string>{"1", "2"}));
    EXPECT_TRUE(again[0].redelivered);
    EXPECT_TRUE(again[1].redelivered);
    EXPECT_NE(again[0].id, got[0].id);  // ids of the lost connection are never reused
    // Settling the old deliveries fails (they came again), the new ones succeed.
    EXPECT_THROW(settle(*c, {ack(got[0])}), sluice::unavailable);
    EXPECT_TRUE(eventually([&] {
        try {
            q->publish_and_wait(to(a, {"3"}));
            return true;
        } catch (const sluice::unavailable&) {
            return false;
        }
    }));
    settle(*c, {ack(again[0]), ack(again[1])});
    auto third = fetch_n(*c, 1);
    ASSERT_EQ(bodies(third), (std::vector<std::string>{"3"}));
    settle(*c, {ack(third[0])});
    EXPECT_TRUE(eventually([&] { return !q->problem(); }));
}

TEST(RabbitmqBroker, StatsCountReadyInFlightAndDead) {
    auto a = unique_queue("stats");
    auto q = sluice::amqp::open_rabbitmq(options({a}, 3));
    std::vector<outgoing> batch;
    for (int i = 0; i < 9; ++i) batch.push_back({a, "doc-" + std::to_string(i), {}, std::to_string(i)});
    q->publish_and_wait(batch);
    EXPECT_EQ(q->stats(a).ready, 9u);
    auto c = q->consume(a, 4);
    auto got = fetch_n(*c, 4);
    ASSERT_EQ(got.size(), 4u);
    EXPECT_TRUE(c->fetch(10, 300ms).empty());  // prefetch bounds the unsettled messages
    // RabbitMQ may have sent a few more (basic.qos is per partition): in flight here, not ready.
    EXPECT_TRUE(eventually([&] {
        auto s = q->stats(a);
        return s.ready + s.in_flight == 9u && s.in_flight >= 4u;
    })) << q->stats(a).ready
        << " " << q->stats(a).in_flight;
    settle(*c, {{got[0].id, settlement::verdict::dead_letter, {}, "broken"}, ack(got[1])});
    auto s = q->stats(a);
    EXPECT_EQ(s.ready + s.in_flight, 7u);
    EXPECT_EQ(s.dead, 1u);
    EXPECT_EQ(fetch_n(*c, 2).size(), 2u);
    EXPECT_TRUE(c->fetch(10, 300ms).empty());
}

}  // namespace
