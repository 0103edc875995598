#include <sluice/queue/queue.hpp>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using namespace sluice::queue;
using sluice::testing::eventually;
using sluice::testing::options;
using sluice::testing::unique_queue;

void settle(consumer& c, std::vector<settlement> s) {
    std::promise<void> done;
    c.settle(std::move(s), [&](std::exception_ptr e) { e ? done.set_exception(e) : done.set_value(); });
    done.get_future().get();
}

settlement ack(const message& m) {
    return {m.id, settlement::verdict::ack, {}, {}};
}
settlement dead(const message& m, const std::string& reason) {
    return {m.id, settlement::verdict::dead_letter, {}, reason};
}

std::vector<message> fetch_n(consumer& c, std::size_t n, std::chrono::milliseconds timeout = 10s) {
    std::vector<message> out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
        for (auto& m : c.fetch(n - out.size(), 100ms)) out.push_back(std::move(m));
    }
    return out;
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

TEST(RabbitmqDeadLetters, DeadLetterKeepsReasonListIsNonDestructiveReplayDelivers) {
    auto a = unique_queue("dl");
    auto q = sluice::amqp::open_rabbitmq(options({a}, 2));
    auto admin = sluice::amqp::open_rabbitmq_admin(options({a}, 2));
    q->publish_and_wait({{a, "doc-1", {"op-x", 2}, "poison"}});
    auto c = q->consume(a, 8);
    auto got = fetch_n(*c, 1);
    ASSERT_EQ(got.size(), 1u);
    auto before = now_ms();
    settle(*c, {dead(got[0], "bad input")});
    EXPECT_EQ(q->stats(a).dead, 1u);
    EXPECT_EQ(q->stats(a).in_flight, 0u);

    auto listed = admin->list(a);
    ASSERT_EQ(listed.size(), 1u);
    const auto& d = listed[0];
    EXPECT_EQ(d.queue, a);
    EXPECT_NE(d.id, 0u);
    EXPECT_EQ(d.key, "doc-1");
    EXPECT_EQ(d.headers.op, "op-x");
    EXPECT_EQ(d.headers.hops, 2u);
    EXPECT_EQ(d.body, "poison");
    EXPECT_EQ(d.reason, "bad input");
    EXPECT_GE(d.at, before - 1000);
    EXPECT_LE(d.at, now_ms() + 1000);
    // Non-destructive, and list("") covers the configured stages.
    auto all = admin->list("");
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].id, d.id);
    EXPECT_EQ(q->stats(a).dead, 1u);

    auto report = admin->replay(a, {});
    EXPECT_EQ(report.replayed, (std::vector<std::uint64_t>{d.id}));
    EXPECT_TRUE(report.refused.empty());
    auto again = fetch_n(*c, 1);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].body, "poison");
    EXPECT_EQ(again[0].headers.op, "op-x");
    settle(*c, {ack(again[0])});
    EXPECT_TRUE(admin->list(a).empty());
}

TEST(RabbitmqDeadLetters, ReplayIsRefusedWhenALaterMessageOfTheKeyWasSettled) {
    auto a = unique_queue("overtaken");
    auto q = sluice::amqp::open_rabbitmq(options({a}));
    auto admin = sluice::amqp::open_rabbitmq_admin(options({a}));
    q->publish_and_wait({{a, "doc-1", {}, "x1"}, {a, "doc-2", {}, "y1"}});
    auto c = q->consume(a, 8);
    auto got = fetch_n(*c, 2);
    ASSERT_EQ(got.size(), 2u);
    settle(*c, {dead(got[0], "x broke"), dead(got[1], "y broke")});
    q->publish_and_wait({{a, "doc-1", {}, "x2"}});
    auto x2 = fetch_n(*c, 1);
    ASSERT_EQ(x2.size(), 1u);
    settle(*c, {ack(x2[0])});  // doc-1 moved on: x1 must not overtake x2

    auto listed = admin->list(a);
    ASSERT_EQ(listed.size(), 2u);
    auto x1_id = listed[0].body == "x1" ? listed[0].id : listed[1].id;
    auto y1_id = listed[0].body == "y1" ? listed[0].id : listed[1].id;
    auto report = admin->replay(a, {});
    EXPECT_EQ(report.replayed, (std::vector<std::uint64_t>{y1_id}));
    ASSERT_EQ(report.refused.size(), 1u);
    EXPECT_EQ(report.refused[0].first, x1_id);
    EXPECT_NE(report.refused[0].second.find("doc-1"), std::string::npos) << report.refused[0].second;
    auto left = admin->list(a);
    ASSERT_EQ(left.size(), 1u);
    EXPECT_EQ(left[0].id, x1_id);
    auto y = fetch_n(*c, 1);
    ASSERT_EQ(y.size(), 1u);
    EXPECT_EQ(y[0].body, "y1");
    settle(*c, {ack(y[0])});
    // Refused again on a second try: the marker stays while its dead letter does.
    EXPECT_EQ(admin->replay(a, {x1_id}).refused.size(), 1u);
}

TEST(RabbitmqDeadLetters, ANewProcessLearnsDeadKeysFromTheDeadLetterQueue) {
    auto a = unique_queue("learn");
    std::uint64_t z1_id = 0;
    {
        auto q = sluice::amqp::open_rabbitmq(options({a}));
        q->publish_and_wait({{a, "doc-3", {}, "z1"}});
        auto c = q->consume(a, 8);
        auto got = fetch_n(*c, 1);
        ASSERT_EQ(got.size(), 1u);
        settle(*c, {dead(got[0], "z broke")});
        q->stop();
    }
    auto admin = sluice::amqp::open_rabbitmq_admin(options({a}));
    ASSERT_EQ(admin->list(a).size(), 1u);
    z1_id = admin->list(a)[0].id;
    // Another process (a fresh broker) settles a later message of doc-3: it must mark it.
    auto q2 = sluice::amqp::open_rabbitmq(options({a}));
    q2->publish_and_wait({{a, "doc-3", {}, "z2"}, {a, "doc-4", {}, "w"}});
    auto c2 = q2->consume(a, 8);
    auto got = fetch_n(*c2, 2);
    ASSERT_EQ(got.size(), 2u);
    settle(*c2, {ack(got[0]), ack(got[1])});
    auto report = admin->replay(a, {z1_id});
    EXPECT_TRUE(report.replayed.empty());
    ASSERT_EQ(report.refused.size(), 1u);
    EXPECT_EQ(report.refused[0].first, z1_id);
}

TEST(RabbitmqDeadLetters, ReplayOfChosenIdsLeavesTheOthers) {
    auto a = unique_queue("chosen");
    auto q = sluice::amqp::open_rabbitmq(options({a}));
    auto admin = sluice::amqp::open_rabbitmq_admin(options({a}));
    q->publish_and_wait({{a, "k1", {}, "1"}, {a, "k2", {}, "2"}, {a, "", {}, "3"}});
    auto c = q->consume(a, 8);
    auto got = fetch_n(*c, 3);
    ASSERT_EQ(got.size(), 3u);
    settle(*c, {dead(got[0], "r1"), dead(got[1], "r2"), dead(got[2], "r3")});
    auto listed = admin->list(a);
    ASSERT_EQ(listed.size(), 3u);
    EXPECT_EQ(listed[0].body, "1");  // oldest first
    EXPECT_EQ(listed[2].body, "3");
    auto report = admin->replay(a, {listed[1].id});
    EXPECT_EQ(report.replayed, (std::vector<std::uint64_t>{listed[1].id}));
    auto back = fetch_n(*c, 1);
    ASSERT_EQ(back.size(), 1u);
    EXPECT_EQ(back[0].body, "2");
    settle(*c, {ack(back[0])});
    auto left = admin->list(a);
    ASSERT_EQ(left.size(), 2u);
    EXPECT_EQ(left[0].body, "1");
    EXPECT_EQ(left[1].body, "3");
}

}  // namespace
