// The stage runner (libs/pipeline), the only user of consumers, over RabbitMQ: two instances of a
// stage on four partitions, with a retried message (held unsettled, its key blocked), a dead
// letter, and per-key order downstream.
#include <atomic>
#include <map>
#include <mutex>
#include <sluice/pipeline/stage_runner.hpp>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using namespace sluice::pipeline;
using sluice::queue::outgoing;
using sluice::testing::eventually;
using sluice::testing::options;
using sluice::testing::unique_queue;

class test_stage final : public stage {
  public:
    using decide = std::function<outcome(const sluice::queue::message&)>;
    explicit test_stage(decide d) : decide_(std::move(d)) {}
    std::vector<outcome> handle(const std::vector<sluice::queue::message>& batch) override {
        std::vector<outcome> out;
        for (const auto& m : batch) out.push_back(decide_(m));
        return out;
    }

  private:
    decide decide_;
};

TEST(StageRunnerOverRabbitmq, TwoInstancesRetryDeadLetterAndKeepPerKeyOrder) {
    auto in = unique_queue("in"), out = unique_queue("out");
    auto q = sluice::amqp::open_rabbitmq(options({in, out}, 4));
    sluice::metrics::metrics metrics;
    sluice::health health;
    sluice::config::graph_config graph;
    auto& s = graph.stages[in];
    s.name = in;
    s.next = {out};
    s.instances = 2;
    s.prefetch = 16;
    s.first_backoff = 5ms;
    s.max_backoff = 20ms;
    s.max_attempts = 3;
    graph.stages[out].name = out;

    std::atomic<int> flaky_attempts{0};
    stage_runner runner(
        q, graph, in, 32,
        [&](std::size_t) {
            return std::make_unique<test_stage>([&](const sluice::queue::message& m) {
                if (m.body == "poison") return outcome::dead("cannot parse");
                if (m.body == "doc-0:0" && m.attempt < 3) {
                    ++flaky_attempts;
                    return outcome::retry("not yet");
                }
                return outcome::forward(m.body);
            });
        },
        metrics, health);
    runner.start();

    constexpr int keys = 20, per_key = 10;
    for (int i = 0; i < per_key; ++i) {
        std::vector<outgoing> batch;
        for (int k = 0; k < keys; ++k) {
            auto key = "doc-" + std::to_string(k);
            batch.push_back({in, key, {"op", 0}, key + ":" + std::to_string(i)});
        }
        q->publish_and_wait(batch);
    }
    q->publish_and_wait({{in, "doc-x", {"op-p", 0}, "poison"}});

    std::map<std::string, std::vector<std::string>> seen;
    int received = 0;
    auto c = q->consume(out, 256);
    ASSERT_TRUE(eventually([&] {
        auto got = c->fetch(256, 100ms);
        std::vector<sluice::queue::settlement> acks;
        for (const auto& m : got) {
            seen[m.key].push_back(m.body);
            acks.push_back({m.id, sluice::queue::settlement::verdict::ack, {}, {}});
            ++received;
        }
        if (!acks.empty()) c->settle(std::move(acks), [](std::exception_ptr) {});
        return received >= keys * per_key;
    }));
    EXPECT_EQ(received, keys * per_key);
    for (const auto& [key, bodies] : seen) {
        for (int i = 0; i < per_key; ++i)
            EXPECT_EQ(bodies.at(i), key + ":" + std::to_string(i)) << "order of " << key;
    }
    EXPECT_EQ(flaky_attempts, 2);
    auto admin = sluice::amqp::open_rabbitmq_admin(options({in, out}, 4));
    ASSERT_TRUE(eventually([&] { return admin->list(in).size() == 1; }));
    EXPECT_EQ(admin->list(in)[0].reason, "cannot parse");
    EXPECT_EQ(admin->list(in)[0].headers.op, "op-p");
    runner.stop();
    auto st = q->stats(in);
    EXPECT_EQ(st.ready, 0u);
    EXPECT_EQ(st.in_flight, 0u);
}

}  // namespace
