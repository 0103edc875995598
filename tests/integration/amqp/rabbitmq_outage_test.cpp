// Faults against the real server: a RabbitMQ restart in the middle of continuous publishing and
// consuming, and stop() under load. Runs last in the binary (the restart affects every connection).
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

/// How RabbitMQ goes down: "stop" (graceful: it closes the connections) or "kill" (SIGKILL).
class RabbitmqRestart : public ::testing::TestWithParam<const char*> {};

TEST_P(RabbitmqRestart, LosesNothingConfirmedAndEverythingRecoversByItself) {
    auto a = unique_queue(std::string("restart-") + GetParam());
    auto q = sluice::amqp::open_rabbitmq(options({a}, 2));

    std::mutex mutex;
    std::set<int> confirmed;
    std::map<int, int> first_deliveries;  // body -> deliveries without the redelivered flag
    std::set<int> received;
    std::atomic<int> unavailable_failures{0}, other_failures{0}, settle_failures{0};
    std::atomic<bool> stop_publishing{false}, stop_consuming{false};

    std::thread publisher([&] {
        for (int i = 0; !stop_publishing; ++i) {
            try {
                q->publish_and_wait({{a,
                                      "doc-" + std::to_string(i % 10),
                                      {"op-" + std::to_string(i), 0},
                                      std::to_string(i)}});
                std::lock_guard lock(mutex);
                confirmed.insert(i);
            } catch (const sluice::unavailable&) {
                ++unavailable_failures;
                std::this_thread::sleep_for(5ms);  // pacing while down, not synchronisation
            } catch (...) {
                ++other_failures;
            }
        }
    });
    std::thread consumer([&] {
        auto c = q->consume(a, 32);
        while (!stop_consuming) {
            auto batch = c->fetch(16, 100ms);
            std::vector<settlement> s;
            {
                std::lock_guard lock(mutex);
                for (const auto& m : batch) {
                    int n = std::stoi(m.body);
                    received.insert(n);
                    if (!m.redelivered) ++first_deliveries[n];
                    s.push_back({m.id, settlement::verdict::ack, {}, {}});
                }
            }
            if (s.empty()) continue;
            std::promise<void> done;
            c->settle(std::move(s),
                      [&](std::exception_ptr e) { e ? done.set_exception(e) : done.set_value(); });
            try {
                done.get_future().get();
            } catch (const sluice::unavailable&) {
                ++settle_failures;  // they come again
            }
        }
    });
    sluice::testing::finally join([&] {
        stop_publishing = true;
        stop_consuming = true;
        if (publisher.joinable()) publisher.join();
        if (consumer.joinable()) consumer.join();
    });
    auto count_confirmed = [&] {
        std::lock_guard lock(mutex);
        return confirmed.size();
    };

    ASSERT_TRUE(eventually([&] { return count_confirmed() >= 200; }));
    sluice::testing::rabbitmq_ctl(GetParam());
    EXPECT_TRUE(eventually([&] { return q->problem().has_value(); }, 20s));
    EXPECT_TRUE(eventually([&] { return unavailable_failures > 0; }, 20s));
    auto confirmed_while_down = count_confirmed();
    EXPECT_TRUE(eventually([&] { return unavailable_failures > 20; }, 20s));
    EXPECT_EQ(count_confirmed(), confirmed_while_down) << "a publish was confirmed while RabbitMQ was down";
    sluice::testing::rabbitmq_ctl("start");
    EXPECT_TRUE(eventually([&] { return count_confirmed() >= confirmed_while_down + 200; }, 60s));
    stop_publishing = true;
    publisher.join();
    EXPECT_TRUE(eventually([&] { return !q->problem(); }, 30s)) << q->problem().value_or("");

    std::set<int> expected;
    {
        std::lock_guard lock(mutex);
        expected = confirmed;
    }
    EXPECT_TRUE(eventually(
        [&] {
            std::lock_guard lock(mutex);
            return std::includes(received.begin(), received.end(), expected.begin(), expected.end());
        },
        60s));
    stop_consuming = true;
    consumer.join();

    std::lock_guard lock(mutex);
    std::size_t lost = 0;
    for (int n : expected) lost += received.count(n) ? 0 : 1;
    EXPECT_EQ(lost, 0u);
    for (const auto& [n, times] : first_deliveries)
        EXPECT_LE(times, 1) << n << " delivered twice without the redelivered flag";
    EXPECT_EQ(other_failures, 0);
    std::cerr << GetParam() << " and start: " << expected.size() << " confirmed, " << received.size()
              << " received, " << unavailable_failures << " publishes refused while down, " << settle_failures
              << " settlements failed\n";
}

INSTANTIATE_TEST_SUITE_P(Outage, RabbitmqRestart, ::testing::Values("stop"));
// SIGKILL of the node: disabled, it fails on the server's side. RabbitMQ 3.10.8 (single node) left
// one of the two quorum queues written at the moment of the kill without a leader for minutes
// after the restart ("leader call - leader not known" in its log; reproduced twice here; known
// upstream as rabbitmq/rabbitmq-server#10070). basic.consume on it times out, so the consumer
// (one connection for all partitions) cannot consume any partition until it has a leader.
// Run it with --gtest_also_run_disabled_tests.
INSTANTIATE_TEST_SUITE_P(DISABLED_ServerBug, RabbitmqRestart, ::testing::Values("kill"));

TEST(RabbitmqOutage, StopUnderLoadCompletesEveryPublishAndIsIdempotent) {
    auto a = unique_queue("stop");
    auto q = sluice::amqp::open_rabbitmq(options({a}, 2));
    std::atomic<int> issued{0}, completed{0}, succeeded{0}, consumed{0};
    std::atomic<bool> halt{false};
    std::vector<std::thread> publishers;
    for (int t = 0; t < 3; ++t) {
        publishers.emplace_back([&, t] {
            for (int i = 0; !halt; ++i) {
                ++issued;
                q->publish({{a, "doc-" + std::to_string(t), {}, std::to_string(i)}},
                           [&](std::exception_ptr e) {
                               if (!e) ++succeeded;
                               ++completed;
                           });
                if (i % 64 == 63) {  // bound what is outstanding
                    eventually([&] { return issued - completed < 2000; }, 10s);
                }
            }
        });
    }
    std::thread consumer([&] {
        auto c = q->consume(a, 64);
        while (!halt) {
            auto batch = c->fetch(32, 100ms);
            std::vector<settlement> s;
            for (const auto& m : batch) s.push_back({m.id, settlement::verdict::ack, {}, {}});
            if (!s.empty()) c->settle(std::move(s), [](std::exception_ptr) {});
            consumed += static_cast<int>(batch.size());
        }
        auto t0 = std::chrono::steady_clock::now();
        EXPECT_TRUE(c->fetch(10, 2s).empty());  // after stop: empty, at once
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
    });
    sluice::testing::finally join([&] {
        halt = true;
        for (auto& t : publishers) {
            if (t.joinable()) t.join();
        }
        if (consumer.joinable()) consumer.join();
    });
    ASSERT_TRUE(eventually([&] { return succeeded > 2000 && consumed > 500; }, 60s));
    auto t0 = std::chrono::steady_clock::now();
    q->stop();
    auto took = std::chrono::steady_clock::now() - t0;
    halt = true;
    for (auto& t : publishers) t.join();
    consumer.join();  // (the guard above joins them when an assertion returns early)
    EXPECT_LT(took, 15s);
    EXPECT_EQ(completed.load(), issued.load());  // every completion ran, once
    q->stop();                                   // idempotent
    std::promise<void> after;
    q->publish({{a, "", {}, "late"}},
               [&](std::exception_ptr e) { e ? after.set_exception(e) : after.set_value(); });
    EXPECT_THROW(after.get_future().get(), sluice::unavailable);
    std::cerr << "stop under load: " << succeeded << " confirmed, " << consumed << " consumed, stop took "
              << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
}

}  // namespace
