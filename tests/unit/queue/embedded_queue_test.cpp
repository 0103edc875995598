#include <sluice/queue/queue.hpp>

#include "../temp_file.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

struct EmbeddedQueue : ::testing::Test {
    sluice::testing::temp_database db{"sluice_queue_"};
    const fs::path& file = db.path();
};

std::vector<std::string> bodies(const std::vector<sluice::queue::message>& ms) {
    std::vector<std::string> out;
    for (const auto& m : ms) out.push_back(m.body);
    return out;
}

TEST_F(EmbeddedQueue, DeliversInPublishOrderPerQueue) {
    auto q = sluice::queue::open_embedded(file);
    q->publish_and_wait("a", {"1", "2"});
    q->publish_and_wait("b", {"x"});
    q->publish_and_wait("a", {"3"});
    EXPECT_EQ(bodies(q->fetch("a", 10, 10ms)), (std::vector<std::string>{"1", "2", "3"}));
    EXPECT_EQ(bodies(q->fetch("b", 10, 10ms)), (std::vector<std::string>{"x"}));
    EXPECT_TRUE(q->fetch("a", 10, 10ms).empty());
    EXPECT_EQ(q->stats("a").in_flight, 3u);
}

TEST_F(EmbeddedQueue, UnackedMessagesComeBackAfterReopenAckedOnesDoNot) {
    {
        auto q = sluice::queue::open_embedded(file);
        q->publish_and_wait("a", {"1", "2", "3"});
        auto got = q->fetch("a", 10, 10ms);
        std::vector<std::uint64_t> first{got[0].id};
        q->ack("a", first);
        q->stop();
    }
    auto q = sluice::queue::open_embedded(file);
    EXPECT_EQ(bodies(q->fetch("a", 10, 10ms)), (std::vector<std::string>{"2", "3"}));
}

TEST_F(EmbeddedQueue, DeadLettersAreKeptAndCanBeReplayed) {
    auto q = sluice::queue::open_embedded(file);
    q->publish_and_wait("a", {"poison", "fine"});
    auto got = q->fetch("a", 10, 10ms);
    q->dead_letter("a", got[0].id, "cannot parse");
    std::vector<std::uint64_t> fine{got[1].id};
    q->ack("a", fine);
    auto dead = q->dead_letters("a");
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0].body, "poison");
    EXPECT_EQ(dead[0].reason, "cannot parse");
    EXPECT_EQ(q->stats("a").dead, 1u);
    EXPECT_EQ(q->replay_dead_letters("a"), 1u);
    EXPECT_EQ(bodies(q->fetch("a", 10, 100ms)), (std::vector<std::string>{"poison"}));
    EXPECT_TRUE(q->dead_letters("a").empty());
}

TEST_F(EmbeddedQueue, ManyPublishersAreGroupCommittedAndNothingIsLost) {
    auto q = sluice::queue::open_embedded(file);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) q->publish_and_wait("a", {std::to_string(t * 1000 + i)});
        });
    }
    for (auto& t : threads) t.join();
    std::size_t total = 0;
    std::vector<int> last(8, -1);
    while (true) {
        auto got = q->fetch("a", 1000, 10ms);
        if (got.empty()) break;
        for (const auto& m : got) {
            int v = std::stoi(m.body);
            EXPECT_GT(v % 1000, last[static_cast<std::size_t>(v / 1000)]);  // each publisher's order kept
            last[static_cast<std::size_t>(v / 1000)] = v % 1000;
        }
        total += got.size();
    }
    EXPECT_EQ(total, 1600u);
}

TEST_F(EmbeddedQueue, StopWakesFetchersAndRefusesPublishes) {
    auto q = sluice::queue::open_embedded(file);
    std::thread waiter([&] { EXPECT_TRUE(q->fetch("a", 1, 10s).empty()); });
    std::this_thread::sleep_for(50ms);
    q->stop();
    waiter.join();
    EXPECT_ANY_THROW(q->publish_and_wait("a", {"late"}));
}

}  // namespace
