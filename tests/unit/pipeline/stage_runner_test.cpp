#include <sluice/core/error.hpp>
#include <sluice/pipeline/stage_runner.hpp>

#include "../temp_file.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace {

using namespace std::chrono_literals;
using namespace sluice::pipeline;
using sluice::queue::outgoing;

/// A stage whose decision is a function of the message.
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

struct StageRunner : ::testing::Test {
    sluice::testing::temp_database db{"sluice_runner_"};
    std::shared_ptr<sluice::queue::broker> queue = sluice::queue::open_embedded(db.path().string());
    sluice::metrics::metrics metrics;
    sluice::health health;
    sluice::config::graph_config graph;

    StageRunner() {
        auto& in = graph.stages["in"];
        in.name = "in";
        in.next = {"out"};
        in.first_backoff = 1ms;
        in.max_backoff = 5ms;
        in.max_attempts = 3;
        graph.stages["out"].name = "out";
        graph.stages["other"].name = "other";
    }

    std::unique_ptr<stage_runner> run(test_stage::decide d, std::size_t max_hops = 32) {
        auto r = std::make_unique<stage_runner>(queue, graph, "in", max_hops,
                                                [d](std::size_t) { return std::make_unique<test_stage>(d); }, metrics, health);
        r->start();
        return r;
    }

    void publish(std::vector<std::string> bodies, std::uint32_t hops = 0) {
        std::vector<outgoing> out;
        for (auto& b : bodies) out.push_back({"in", b, {"op", hops}, b});
        queue->publish_and_wait(std::move(out));
    }

    /// Every message that reached `name`, settling them.
    std::vector<sluice::queue::message> drain(const std::string& name, std::size_t expected) {
        auto c = queue->consume(name, 1000);
        std::vector<sluice::queue::message> got;
        for (int i = 0; i < 500 && got.size() < expected; ++i) {
            for (auto& m : c->fetch(100, 10ms)) got.push_back(std::move(m));
        }
        std::vector<sluice::queue::settlement> acks;
        for (const auto& m : got) acks.push_back({m.id, sluice::queue::settlement::verdict::ack, {}, {}});
        c->settle(std::move(acks), [](std::exception_ptr) {});
        return got;
    }

    template <class Predicate>
    static void eventually(Predicate done) {
        for (int i = 0; i < 500 && !done(); ++i) std::this_thread::sleep_for(10ms);
        ASSERT_TRUE(done());
    }

    std::vector<sluice::queue::dead_letter> dead() { return sluice::queue::open_embedded_admin(db.path().string())->list("in"); }
};

TEST_F(StageRunner, ForwardsToTheConfiguredNextAndDeadLettersWithTheReason) {
    auto r = run([](const sluice::queue::message& m) {
        if (m.body == "bad") return outcome::dead("refused");
        if (m.body == "drop") return outcome::done();
        return outcome::forward(m.body + "!");
    });
    publish({"a", "bad", "drop", "b"});
    auto out = drain("out", 2);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].body, "a!");
    EXPECT_EQ(out[0].headers.op, "op");
    EXPECT_EQ(out[0].headers.hops, 1u);
    EXPECT_EQ(out[0].key, "a");
    EXPECT_EQ(out[1].body, "b!");
    eventually([&] { return queue->stats("in").dead == 1 && queue->stats("in").in_flight == 0; });
    r->stop();
    EXPECT_EQ(dead().at(0).reason, "refused");
}

TEST_F(StageRunner, ARetriedMessageIsSetAsideWhileOthersFlowThenSucceeds) {
    std::mutex m;
    std::vector<std::string> seen;
    auto r = run([&](const sluice::queue::message& msg) {
        std::lock_guard lock(m);
        seen.push_back(msg.body + "#" + std::to_string(msg.attempt));
        if (msg.body == "flaky" && msg.attempt < 3) return outcome::retry("not yet");
        return outcome::forward(msg.body);
    });
    publish({"flaky", "x", "y"});
    auto out = drain("out", 3);
    r->stop();
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out.back().body, "flaky");  // x and y did not wait for it
    std::lock_guard lock(m);
    EXPECT_NE(std::find(seen.begin(), seen.end(), "flaky#3"), seen.end());
    EXPECT_EQ(queue->stats("in").dead, 0u);
}

TEST_F(StageRunner, AfterMaxAttemptsTheFailurePolicyApplies) {
    auto always_fails = [](const sluice::queue::message&) { return outcome::retry("broken"); };
    {
        auto r = run(always_fails);
        publish({"p"});
        eventually([&] { return queue->stats("in").dead == 1; });
        r->stop();
        EXPECT_NE(dead().at(0).reason.find("broken (after 3 attempts)"), std::string::npos);
    }
    graph.stages["in"].on_failure = sluice::config::failure_policy::forward;
    {
        auto r = run(always_fails);
        publish({"q"});
        auto out = drain("out", 1);
        r->stop();
        ASSERT_EQ(out.size(), 1u);
        EXPECT_EQ(out[0].body, "q");  // continued unchanged
    }
    graph.stages["in"].on_failure = sluice::config::failure_policy::drop;
    {
        auto r = run(always_fails);
        publish({"z"});
        eventually([&] { return queue->stats("in").ready == 0 && queue->stats("in").in_flight == 0; });
        r->stop();
        EXPECT_EQ(queue->stats("in").dead, 1u);  // only the first one
        EXPECT_EQ(queue->stats("out").ready, 0u);
    }
}

TEST_F(StageRunner, HopLimitAndUnknownStagesDeadLetter) {
    auto r = run([](const sluice::queue::message& m) {
        if (m.body == "elsewhere") return outcome::forward(m.body, {"other"});
        if (m.body == "nowhere") return outcome::forward(m.body, {"no-such-stage"});
        return outcome::forward(m.body);
    }, 2);
    publish({"elsewhere", "nowhere"});
    publish({"tired"}, 2);
    EXPECT_EQ(drain("other", 1).size(), 1u);
    eventually([&] { return queue->stats("in").dead == 2; });
    r->stop();
    auto d = dead();
    ASSERT_EQ(d.size(), 2u);
    EXPECT_NE(d[0].reason.find("unknown stage 'no-such-stage'"), std::string::npos);
    EXPECT_EQ(d[1].reason, "hop limit");
}

TEST_F(StageRunner, AnOutagePausesAndNeverDeadLetters) {
    std::atomic<int> calls{0};
    auto r = run([&](const sluice::queue::message& m) -> outcome {
        if (++calls < 5) throw sluice::unavailable("store", "disk full");
        return outcome::forward(m.body);
    });
    publish({"a"});
    eventually([&] { return !health.problems().empty(); });
    EXPECT_EQ(health.problems().at("store"), "disk full");
    auto out = drain("out", 1);
    r->stop();
    EXPECT_EQ(out.size(), 1u);
    EXPECT_EQ(queue->stats("in").dead, 0u);
    EXPECT_TRUE(health.problems().empty());
}

TEST_F(StageRunner, ARejectedBatchIsSplitToFindTheCulprit) {
    class batch_stage final : public stage {
    public:
        std::size_t batch_size() const override { return 10; }
        std::vector<outcome> handle(const std::vector<sluice::queue::message>& batch) override {
            for (const auto& m : batch) {
                if (m.body == "poison") throw sluice::invalid_input(sluice::errc::invalid_message, "cannot read it");
            }
            return std::vector<outcome>(batch.size(), outcome::forward("ok"));
        }
    };
    publish({"a", "poison", "b"});
    stage_runner r(queue, graph, "in", 32, [](std::size_t) { return std::make_unique<batch_stage>(); }, metrics, health);
    r.start();
    EXPECT_EQ(drain("out", 2).size(), 2u);
    eventually([&] { return queue->stats("in").dead == 1; });
    r.stop();
    EXPECT_EQ(dead().at(0).body, "poison");
}

TEST_F(StageRunner, StopPutsBackWhatWaitsForARetry) {
    auto r = run([](const sluice::queue::message&) { return outcome::retry("later", 10s); });
    publish({"a"});
    eventually([&] { return queue->stats("in").in_flight == 1; });
    r->stop();
    EXPECT_EQ(queue->stats("in").ready, 1u);
    EXPECT_EQ(queue->stats("in").dead, 0u);
}

}  // namespace
