#include <sluice/core/error.hpp>
#include <sluice/queue/queue.hpp>

#include "../temp_file.hpp"

#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>
#include <future>
#include <thread>

namespace {

using namespace std::chrono_literals;
using namespace sluice::queue;

struct EmbeddedQueue : ::testing::Test {
    sluice::testing::temp_database db{"sluice_queue_"};
    std::string file = db.path().string();
};

std::vector<outgoing> to(const std::string& queue, std::vector<std::string> bodies, const std::string& key = "") {
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

settlement ack(const message& m, std::vector<outgoing> publish = {}) { return {m.id, settlement::verdict::ack, std::move(publish), {}}; }

TEST_F(EmbeddedQueue, DeliversInPublishOrderPerQueueWithHeaders) {
    auto q = open_embedded(file);
    q->publish_and_wait(to("a", {"1", "2"}));
    q->publish_and_wait(to("b", {"x"}));
    q->publish_and_wait(to("a", {"3"}));
    auto a = q->consume("a", 64);
    auto got = a->fetch(10, 10ms);
    EXPECT_EQ(bodies(got), (std::vector<std::string>{"1", "2", "3"}));
    EXPECT_EQ(got[0].headers.op, "op-1");
    EXPECT_FALSE(got[0].redelivered);
    EXPECT_EQ(bodies(q->consume("b", 64)->fetch(10, 10ms)), (std::vector<std::string>{"x"}));
    EXPECT_TRUE(a->fetch(10, 10ms).empty());
    EXPECT_EQ(q->stats("a").in_flight, 3u);
}

TEST_F(EmbeddedQueue, PrefetchBoundsUnsettledMessagesPerConsumer) {
    auto q = open_embedded(file);
    q->publish_and_wait(to("a", {"1", "2", "3", "4", "5"}));
    auto c = q->consume("a", 2);
    auto first = c->fetch(10, 10ms);
    EXPECT_EQ(first.size(), 2u);
    EXPECT_TRUE(c->fetch(10, 10ms).empty());
    settle(*c, {ack(first[0])});
    EXPECT_EQ(bodies(c->fetch(10, 10ms)), (std::vector<std::string>{"3"}));
}

TEST_F(EmbeddedQueue, OneUnsettledMessagePerKeyOthersFlow) {
    auto q = open_embedded(file);
    q->publish_and_wait(to("a", {"k1"}, "doc-1"));
    q->publish_and_wait(to("a", {"k2"}, "doc-1"));
    q->publish_and_wait(to("a", {"other"}, "doc-2"));
    auto c1 = q->consume("a", 64);
    auto c2 = q->consume("a", 64);
    auto first = c1->fetch(10, 10ms);
    EXPECT_EQ(bodies(first), (std::vector<std::string>{"k1", "other"}));  // k2 waits behind k1
    EXPECT_TRUE(c2->fetch(10, 10ms).empty());
    settle(*c1, {ack(first[0])});
    EXPECT_EQ(bodies(c2->fetch(10, 100ms)), (std::vector<std::string>{"k2"}));
}

TEST_F(EmbeddedQueue, SettlementPublishesAndAcksInOneStepAndSurvivesReopen) {
    {
        auto q = open_embedded(file);
        q->publish_and_wait(to("a", {"1", "2", "3"}));
        auto c = q->consume("a", 64);
        auto got = c->fetch(10, 10ms);
        settle(*c, {ack(got[0], to("b", {"from-1"}))});
        q->stop();
    }
    auto q = open_embedded(file);
    auto again = q->consume("a", 64)->fetch(10, 10ms);
    EXPECT_EQ(bodies(again), (std::vector<std::string>{"2", "3"}));
    EXPECT_TRUE(again[0].redelivered);
    EXPECT_EQ(bodies(q->consume("b", 64)->fetch(10, 10ms)), (std::vector<std::string>{"from-1"}));
}

TEST_F(EmbeddedQueue, ADroppedConsumerPutsItsMessagesBackRedelivered) {
    auto q = open_embedded(file);
    q->publish_and_wait(to("a", {"1", "2"}, "k"));
    {
        auto c = q->consume("a", 64);
        EXPECT_EQ(c->fetch(10, 10ms).size(), 1u);  // "2" waits behind "1" (same key)
    }
    auto c = q->consume("a", 64);
    auto got = c->fetch(10, 10ms);
    ASSERT_EQ(bodies(got), (std::vector<std::string>{"1"}));
    EXPECT_TRUE(got[0].redelivered);
}

TEST_F(EmbeddedQueue, BodiesPastTheMemoryBudgetAreReadBackFromTheFile) {
    auto q = open_embedded(file, {.memory_budget_bytes = 10});
    std::string big(1000, 'x');
    q->publish_and_wait(to("a", {"small", big, "tail"}));
    auto got = q->consume("a", 64)->fetch(10, 10ms);
    EXPECT_EQ(bodies(got), (std::vector<std::string>{"small", big, "tail"}));
}

TEST_F(EmbeddedQueue, DeadLettersAreListedAndReplayedByTheAdmin) {
    auto q = open_embedded(file);
    q->publish_and_wait(to("a", {"poison", "fine"}));
    auto c = q->consume("a", 64);
    auto got = c->fetch(10, 10ms);
    settle(*c, {{got[0].id, settlement::verdict::dead_letter, {}, "cannot parse"}, ack(got[1])});
    EXPECT_EQ(q->stats("a").dead, 1u);
    auto admin = open_embedded_admin(file);
    auto dead = admin->list("a");
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0].body, "poison");
    EXPECT_EQ(dead[0].reason, "cannot parse");
    EXPECT_EQ(dead[0].headers.op, "op-poison");
    auto report = admin->replay("a", {});
    EXPECT_EQ(report.replayed, (std::vector<std::uint64_t>{got[0].id}));
    // The running queue takes marked replays within about a second.
    auto back = c->fetch(10, 3s);
    ASSERT_EQ(bodies(back), (std::vector<std::string>{"poison"}));
    EXPECT_TRUE(back[0].redelivered);
    EXPECT_TRUE(admin->list("a").empty());
}

TEST_F(EmbeddedQueue, ReplayIsRefusedOnceANewerMessageOfTheKeyWasSettled) {
    auto q = open_embedded(file);
    q->publish_and_wait(to("a", {"old"}, "doc"));
    q->publish_and_wait(to("a", {"new"}, "doc"));
    q->publish_and_wait(to("a", {"alone"}, "other"));
    auto c = q->consume("a", 64);
    auto got = c->fetch(10, 10ms);  // old, alone
    ASSERT_EQ(bodies(got), (std::vector<std::string>{"old", "alone"}));
    settle(*c, {{got[0].id, settlement::verdict::dead_letter, {}, "failed"}, {got[1].id, settlement::verdict::dead_letter, {}, "failed"}});
    auto newer = c->fetch(10, 100ms);
    ASSERT_EQ(bodies(newer), (std::vector<std::string>{"new"}));
    settle(*c, {ack(newer[0])});
    auto report = open_embedded_admin(file)->replay("a", {});
    EXPECT_EQ(report.replayed, (std::vector<std::uint64_t>{got[1].id}));
    ASSERT_EQ(report.refused.size(), 1u);
    EXPECT_EQ(report.refused[0].first, got[0].id);
    EXPECT_NE(report.refused[0].second.find("newer"), std::string::npos);
}

TEST_F(EmbeddedQueue, ReplayOfChosenIdsLeavesTheOtherDeadLetters) {
    auto q = open_embedded(file);
    q->publish_and_wait(to("a", {"one", "two", "three"}));
    auto c = q->consume("a", 64);
    auto got = c->fetch(10, 10ms);
    ASSERT_EQ(got.size(), 3u);
    settle(*c, {{got[0].id, settlement::verdict::dead_letter, {}, "x"},
                {got[1].id, settlement::verdict::dead_letter, {}, "x"},
                {got[2].id, settlement::verdict::dead_letter, {}, "x"}});
    auto admin = open_embedded_admin(file);
    auto report = admin->replay("a", {got[1].id});
    EXPECT_EQ(report.replayed, (std::vector<std::uint64_t>{got[1].id}));
    EXPECT_TRUE(report.refused.empty());
    auto back = c->fetch(10, 3s);
    ASSERT_EQ(bodies(back), (std::vector<std::string>{"two"}));
    auto dead = admin->list("a");
    ASSERT_EQ(dead.size(), 2u);
    EXPECT_EQ(dead[0].body, "one");
    EXPECT_EQ(dead[1].body, "three");
}

TEST_F(EmbeddedQueue, ReplayOfUnknownIdsIsReported) {
    auto q = open_embedded(file);
    auto report = open_embedded_admin(file)->replay("a", {42});
    EXPECT_TRUE(report.replayed.empty());
    ASSERT_EQ(report.refused.size(), 1u);
    EXPECT_EQ(report.refused[0].first, 42u);
}

TEST_F(EmbeddedQueue, ManyPublishersAreGroupCommittedAndNothingIsLost) {
    auto q = open_embedded(file);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) q->publish_and_wait(to("a", {std::to_string(t * 1000 + i)}));
        });
    }
    for (auto& t : threads) t.join();
    std::size_t total = 0;
    std::vector<int> last(8, -1);
    auto c = q->consume("a", 100000);
    while (true) {
        auto got = c->fetch(1000, 10ms);
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

TEST_F(EmbeddedQueue, AnUnwritableFileIsAnOutageAndTheMessagesComeAgain) {
    auto q = open_embedded(file);
    q->publish_and_wait(to("a", {"1"}));
    auto c = q->consume("a", 64);
    auto got = c->fetch(10, 10ms);
    {
        SQLite::Database other(file, SQLite::OPEN_READWRITE);
        other.exec("BEGIN EXCLUSIVE");  // holds the write lock past the queue's busy timeout
        EXPECT_THROW(settle(*c, {ack(got[0], to("b", {"x"}))}), sluice::unavailable);
        EXPECT_TRUE(q->problem().has_value());
        other.exec("ROLLBACK");
    }
    auto again = c->fetch(10, 100ms);
    ASSERT_EQ(bodies(again), (std::vector<std::string>{"1"}));
    EXPECT_TRUE(again[0].redelivered);
    settle(*c, {ack(again[0])});
    EXPECT_FALSE(q->problem().has_value());
}

TEST_F(EmbeddedQueue, StopWakesFetchersAndRefusesPublishes) {
    auto q = open_embedded(file);
    auto c = q->consume("a", 64);
    std::promise<void> waiting;
    std::thread waiter([&] {
        waiting.set_value();
        EXPECT_TRUE(c->fetch(1, 10s).empty());
    });
    waiting.get_future().wait();
    q->stop();
    waiter.join();
    EXPECT_THROW(q->publish_and_wait(to("a", {"late"})), sluice::unavailable);
}

}  // namespace
