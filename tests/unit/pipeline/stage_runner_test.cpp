#include <sluice/pipeline/stage_runner.hpp>

#include "../temp_file.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace {

using namespace std::chrono_literals;
using namespace sluice::pipeline;

struct StageRunner : ::testing::Test {
    sluice::testing::temp_database db{"sluice_runner_"};
    std::unique_ptr<sluice::queue::queue> queue = sluice::queue::open_embedded(db.path());
    sluice::metrics::metrics metrics;

    template <class Predicate>
    static void eventually(Predicate done) {
        for (int i = 0; i < 500 && !done(); ++i) std::this_thread::sleep_for(10ms);
        ASSERT_TRUE(done());
    }
};

TEST_F(StageRunner, AcksWhatTheStageAcceptsAndDeadLettersWhatItRefuses) {
    std::mutex m;
    std::vector<std::string> seen;
    stage_runner runner(*queue, {"test", "in"}, [&](const std::vector<sluice::queue::message>& batch) {
        std::vector<verdict> out;
        std::lock_guard lock(m);
        for (const auto& msg : batch) {
            seen.push_back(msg.body);
            out.push_back(msg.body == "bad" ? verdict{false, "refused"} : verdict{});
        }
        return out;
    }, metrics);
    runner.start();
    queue->publish_and_wait("in", {"a", "bad", "b"});
    eventually([&] { return queue->stats("in").in_flight == 0 && queue->stats("in").ready == 0 && queue->stats("in").dead == 1; });
    runner.stop();
    EXPECT_EQ(seen, (std::vector<std::string>{"a", "bad", "b"}));
    EXPECT_EQ(queue->dead_letters("in").at(0).reason, "refused");
}

TEST_F(StageRunner, RetriesTransientFailuresThenIsolatesThePoison) {
    std::atomic<int> calls{0};
    std::mutex m;
    std::vector<std::string> done;
    stage_runner runner(*queue, {"test", "in", 256, 3, 1ms}, [&](const std::vector<sluice::queue::message>& batch) {
        ++calls;
        for (const auto& msg : batch) {
            if (msg.body == "poison") throw std::runtime_error("cannot");
        }
        std::lock_guard lock(m);
        for (const auto& msg : batch) done.push_back(msg.body);
        return std::vector<verdict>(batch.size());
    }, metrics);
    queue->publish_and_wait("in", {"a", "poison", "b"});
    runner.start();
    eventually([&] { return queue->stats("in").dead == 1 && queue->stats("in").in_flight == 0; });
    runner.stop();
    EXPECT_EQ(done, (std::vector<std::string>{"a", "b"}));  // in order, around the poison
    EXPECT_EQ(queue->dead_letters("in").at(0).body, "poison");
    EXPECT_GE(calls.load(), 3 + 3 + 2);  // the batch 3 times, then alone: a, poison 3 times, b
}

}  // namespace
