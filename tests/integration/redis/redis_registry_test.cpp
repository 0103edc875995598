// The Redis registry against real servers: a standalone Redis and a 3-master Redis Cluster that
// scripts/servers/with-redis.sh starts for this binary (SLUICE_TEST_REDIS_URL,
// SLUICE_TEST_REDIS_CLUSTER_URLS, and the control commands SLUICE_TEST_REDIS_CTL and
// SLUICE_TEST_REDIS_CLUSTER_CTL that stop and start them). Every test uses its own key prefix.
// The servers are inspected and steered (CLUSTER SETSLOT, MIGRATE) through plain synchronous
// hiredis, independent of the client under test.
#include <hiredis/hiredis.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <sluice/redis/registry.hpp>
#include <stdexcept>
#include <thread>

#include "../../unit/registry/registry_contract.hpp"
#include "redis_servers.hpp"

namespace {

using namespace std::chrono_literals;
using sluice::redis::open_redis_registry;
using sluice::redis::redis_options;
using sluice::redis::redis_registry;
using sluice::testing::registry_backend;
using sluice::testing::RegistryContract;
namespace contract = sluice::testing::contract;
using namespace sluice::testing::redis_servers;

redis_options options_for(bool cluster, const std::string& prefix,
                          std::chrono::milliseconds timeout = 2000ms) {
    redis_options o;
    o.urls = urls(cluster);
    o.cluster = cluster;
    o.key_prefix = prefix;
    o.timeout = timeout;
    return o;
}

registry_backend backend(bool cluster) {
    return {cluster ? "cluster" : "standalone",
            [cluster](const std::string& unique) -> std::unique_ptr<sluice::registry::registry> {
                delete_keys(cluster, "t:" + unique);
                return open_redis_registry(options_for(cluster, "t:" + unique));
            },
            [cluster](const std::string& unique) { delete_keys(cluster, "t:" + unique); }};
}

INSTANTIATE_TEST_SUITE_P(Redis, RegistryContract, ::testing::Values(backend(false), backend(true)),
                         sluice::testing::backend_name);

/// Polls `ok` until it holds or `within` passes; `unavailable` counts as "not yet".
template <class Pred>
bool eventually(Pred ok, std::chrono::milliseconds within = 15s) {
    const auto until = std::chrono::steady_clock::now() + within;
    for (;;) {
        try {
            if (ok()) return true;
        } catch (const sluice::unavailable&) {
        }
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(10ms);  // poll interval, not a synchronisation
    }
}

/// The devices a change to task 1 with document `doc` (created) reaches, sorted.
std::vector<std::string> devices_reached(sluice::registry::registry& r, const char* doc) {
    std::vector<std::string> out;
    for (const auto& route : contract::find(r, nullptr, doc)) out.push_back(route.device);
    return out;
}

std::vector<std::string> numbered(const std::string& stem, int n, int step = 1, int first = 0) {
    std::vector<std::string> out;
    for (int i = first; i < n; i += step) out.push_back(stem + std::to_string(i));
    std::sort(out.begin(), out.end());
    return out;
}

class RedisRegistry : public ::testing::TestWithParam<bool> {
  protected:
    void SetUp() override {
        prefix_ = "t:" + std::to_string(::getpid()) + ":" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name();
        std::replace(prefix_.begin(), prefix_.end(), '/', '_');
        delete_keys(cluster(), prefix_);
    }
    void TearDown() override { delete_keys(cluster(), prefix_); }
    bool cluster() const { return GetParam(); }
    std::unique_ptr<redis_registry> open(std::chrono::milliseconds timeout = 2000ms) {
        return open_redis_registry(options_for(cluster(), prefix_, timeout));
    }
    std::string prefix_;
};

INSTANTIATE_TEST_SUITE_P(Redis, RedisRegistry, ::testing::Values(false, true),
                         [](const auto& info) { return std::string(info.param ? "cluster" : "standalone"); });

TEST_P(RedisRegistry, TwoInstancesSeeEachOthersSubscriptions) {
    auto a = open();
    auto b = open();
    for (int i = 0; i < 40; ++i)
        contract::subscribe(i % 2 == 0 ? *a : *b, "dev-" + std::to_string(i), "app:a:model:task", "");
    const auto all = numbered("dev-", 40);
    EXPECT_TRUE(
        eventually([&] { return devices_reached(*a, "{}") == all && devices_reached(*b, "{}") == all; }));
    EXPECT_EQ(a->size(), 40u);
    EXPECT_EQ(b->size(), 40u);

    // Removals travel too: b drops the even devices' subscriptions, a forgets the odd devices.
    for (int i = 0; i < 40; i += 2)
        EXPECT_TRUE(b->unsubscribe("dev-" + std::to_string(i), "app:a:model:task"));
    for (int i = 1; i < 20; i += 2) a->forget_device("dev-" + std::to_string(i));
    const auto left = numbered("dev-", 40, 2, 21);
    EXPECT_TRUE(eventually([&] {
        return devices_reached(*a, "{}") == left && devices_reached(*b, "{}") == left;
    })) << ::testing::PrintToString(devices_reached(*b, "{}"));
    EXPECT_EQ(contract::sorted(a->devices()), left);

    // A process started later loads what is there.
    auto c = open();
    EXPECT_TRUE(eventually([&] { return devices_reached(*c, "{}") == left; }));
    EXPECT_GE(b->status().applied, 60u);
    EXPECT_TRUE(b->status().live);
}

TEST_P(RedisRegistry, AfterCatchUpAnotherProcessesSubscriptionIsFoundAtOnce) {
    // What the transport manager relies on: a change written after a device's `subscribed`
    // reaches it, though the subscription was made in another process a moment before.
    auto writer = open();
    auto reader = open();
    ASSERT_TRUE(eventually([&] { return reader->status().live; }));
    std::vector<std::string> want;
    for (int i = 0; i < 100; ++i) {
        want.push_back("dev-" + std::to_string(i));
        contract::subscribe(*writer, want.back(), "app:a:model:task", "");
        reader->catch_up();
        auto got = devices_reached(*reader, "{}");
        std::sort(want.begin(), want.end());
        ASSERT_EQ(got, want) << "after subscription " << i;
    }
    // While the index cannot follow Redis, catching up is an outage, not a stale answer.
    if (!cluster()) {
        control("SLUICE_TEST_REDIS_CTL", "stop");
        EXPECT_THROW(reader->catch_up(), sluice::unavailable);
        control("SLUICE_TEST_REDIS_CTL", "start");
        EXPECT_TRUE(eventually([&] {
            reader->catch_up();
            return true;
        }));
    }
}

TEST_P(RedisRegistry, ConcurrentWritersOfOneDeviceConvergeInEveryIndex) {
    // Two processes change the same devices at once: their feed entries can arrive in another
    // order than their writes. Every index must end up equal to what Redis holds.
    auto a = open();
    auto b = open();
    auto work = [](redis_registry& r, int seed) {
        for (int i = 0; i < 300; ++i) {
            const std::string device = "d" + std::to_string((i * 7 + seed) % 3);
            const std::string pattern = "app:a:model:task:id:" + std::to_string((i * 13 + seed) % 5);
            switch ((i + seed) % 4) {
                case 0:
                case 1:
                    contract::subscribe(r, device, pattern, "");
                    break;
                case 2:
                    r.unsubscribe(device, pattern);
                    break;
                case 3:
                    if (i % 20 == seed % 20) r.forget_device(device);
                    break;
            }
        }
    };
    std::thread ta([&] { work(*a, 1); });
    std::thread tb([&] { work(*b, 2); });
    ta.join();
    tb.join();
    auto truth = [&](sluice::registry::registry& r) {
        std::map<std::string, std::set<std::string>> out;
        for (const auto& device : r.devices()) out[device] = contract::channels_of(r, device);
        return out;
    };
    const auto expected = truth(*a);
    // What each index routes: for each device, the channels that a change to its documents reaches.
    auto routed = [&](sluice::registry::registry& r) {
        std::map<std::string, std::set<std::string>> out;
        for (int id = 0; id < 5; ++id) {
            auto channels = sluice::channel::channels_for({"a", "task", std::to_string(id), "u"});
            boost::json::value doc = boost::json::object{};
            std::vector<sluice::registry::route> routes;
            r.find(channels, nullptr, &doc, routes);
            for (auto& x : routes) out[x.device].insert(x.channels.begin(), x.channels.end());
        }
        return out;
    };
    EXPECT_TRUE(eventually([&] { return routed(*a) == expected && routed(*b) == expected; }))
        << "redis: " << ::testing::PrintToString(expected) << "\na: " << ::testing::PrintToString(routed(*a))
        << "\nb: " << ::testing::PrintToString(routed(*b));
}

TEST_P(RedisRegistry, TheLimitHoldsUnderConcurrentSubscribesFromTwoInstances) {
    auto a = open();
    auto b = open();
    constexpr std::size_t limit = 10;
    std::atomic<int> accepted{0}, refused{0};
    auto work = [&](redis_registry& r, int thread) {
        for (int j = 0; j < 15; ++j) {
            // Distinct filters, all matching {"n":1}: distinct channels of one device.
            const int bound = -(thread * 100 + j);
            try {
                contract::subscribe(r, "crowded", "app:a:model:task",
                                    R"({"n":{"$gt":)" + std::to_string(bound) + "}}", limit);
                ++accepted;
            } catch (const sluice::error& e) {
                EXPECT_EQ(e.code(), "too_many_subscriptions");
                ++refused;
            }
        }
    };
    std::vector<std::thread> threads;
    threads.emplace_back(work, std::ref(*a), 0);
    threads.emplace_back(work, std::ref(*a), 1);
    threads.emplace_back(work, std::ref(*b), 2);
    threads.emplace_back(work, std::ref(*b), 3);
    for (auto& t : threads) t.join();
    EXPECT_EQ(accepted.load(), static_cast<int>(limit));
    EXPECT_EQ(refused.load(), 60 - static_cast<int>(limit));
    EXPECT_EQ(a->subscriptions_of("crowded").size(), limit);
    auto channels_found = [&](sluice::registry::registry& r) {
        auto routes = contract::find(r, nullptr, R"({"n":1})");
        return routes.size() == 1 ? routes[0].channels.size() : 0;
    };
    EXPECT_TRUE(eventually([&] { return channels_found(*a) == limit && channels_found(*b) == limit; }));
}

/// The port of the node that holds `key`.
int port_for(bool cluster, const std::string& key) {
    if (!cluster) return port_of(urls(false).front());
    raw any(port_of(urls(true).front()));
    const auto slot = static_cast<unsigned>(any.integer({"CLUSTER", "KEYSLOT", key}));
    auto r = any.run({"CLUSTER", "SLOTS"});
    for (std::size_t i = 0; i < r->elements; ++i) {
        auto* range = r->element[i];
        if (slot >= static_cast<unsigned>(range->element[0]->integer) &&
            slot <= static_cast<unsigned>(range->element[1]->integer))
            return static_cast<int>(range->element[2]->element[1]->integer);
    }
    throw std::runtime_error("no node serves " + key);
}

TEST_P(RedisRegistry, AGapInTheFeedMakesEveryFollowerReload) {
    auto a = open();
    auto b = open();
    contract::subscribe(*a, "first", "app:a:model:task", "");
    ASSERT_TRUE(eventually([&] { return devices_reached(*b, "{}") == std::vector<std::string>{"first"}; }));
    const auto reloads = b->status().reloads;
    // Skip a sequence number, as entries trimmed away (or a feed that restarted) would: the next
    // entry does not follow the last one seen.
    const std::string seq = prefix_ + ":{feed}:seq";
    raw(port_for(cluster(), seq)).run({"INCR", seq});
    contract::subscribe(*a, "second", "app:a:model:task", "");
    EXPECT_TRUE(eventually([&] { return b->status().reloads > reloads && b->status().live; }));
    EXPECT_TRUE(eventually([&] {
        return devices_reached(*b, "{}") == std::vector<std::string>{"first", "second"};
    }));
}

TEST_P(RedisRegistry, AProcessStartedLaterLoadsThousandsOfDevices) {
    // More keys than one SCAN page on any node, loaded in pipelined batches.
    auto a = open();
    constexpr int devices = 3000;
    for (int i = 0; i < devices; ++i) {
        contract::subscribe(*a, "many-" + std::to_string(i), "app:a:model:task",
                            i % 2 == 0 ? "" : R"({"k":)" + std::to_string(i % 7) + "}");
    }
    auto c = open();
    EXPECT_TRUE(c->status().live);
    EXPECT_EQ(c->size(), static_cast<std::size_t>(devices));
    std::size_t expected = devices / 2;  // the unfiltered half, plus the filtered ones with k = 3
    for (int i = 1; i < devices; i += 2) expected += i % 7 == 3 ? 1 : 0;
    EXPECT_EQ(devices_reached(*c, R"({"k":3})").size(), expected);
    EXPECT_EQ(c->devices().size(), static_cast<std::size_t>(devices));
}

TEST_P(RedisRegistry, BadOptionsAreConfigErrors) {
    auto o = options_for(cluster(), "bad{prefix}");
    EXPECT_THROW(open_redis_registry(o), sluice::invalid_input);
    o = options_for(cluster(), prefix_);
    o.urls = {"redis://user:secret@127.0.0.1:1/0"};
    EXPECT_THROW(open_redis_registry(o), sluice::invalid_input);
}

TEST(RedisRegistryOutage, AnUnreachableRedisIsUnavailableNotAWrongAnswer) {
    // Nothing listens on port 1: the registry opens, says it is not live, and every call fails
    // with `unavailable` within its timeout.
    redis_options o;
    o.urls = {"redis://127.0.0.1:1"};
    o.timeout = 300ms;
    o.key_prefix = "t:nowhere";
    auto r = open_redis_registry(o);
    EXPECT_FALSE(r->status().live);
    EXPECT_THROW(contract::subscribe(*r, "d", "app:a:model:task", ""), sluice::unavailable);
    EXPECT_THROW(r->unsubscribe("d", "app:a:model:task"), sluice::unavailable);
    EXPECT_THROW(r->subscriptions_of("d"), sluice::unavailable);
    EXPECT_THROW(r->devices(), sluice::unavailable);
    EXPECT_THROW(contract::find(*r, nullptr, "{}"), sluice::unavailable);
    try {
        r->forget_device("d");
        ADD_FAILURE() << "forget_device succeeded without redis";
    } catch (const sluice::unavailable& e) {
        EXPECT_EQ(e.backend(), "registry");
    }
}

/// Outage checks shared by the standalone and cluster restarts: while down, a call either fails
/// with `unavailable` or gives the right answer; `find` on the follower gives up being live.
void expect_down(redis_registry& writer, redis_registry& follower, const std::string& device,
                 const std::vector<std::string>& known) {
    EXPECT_THROW(contract::subscribe(writer, device, "app:a:model:task", ""), sluice::unavailable);
    EXPECT_TRUE(eventually([&] {
        try {
            auto reached = devices_reached(follower, "{}");
            EXPECT_EQ(reached, known) << "a wrong answer while redis is down";
            return false;
        } catch (const sluice::unavailable&) {
            return true;
        }
    })) << "find kept answering while its feed was down";
    EXPECT_FALSE(follower.status().live);
}

TEST(RedisRegistryOutage, AStandaloneRestartIsSurvived) {
    const std::string prefix = "t:" + std::to_string(::getpid()) + ":restart";
    delete_keys(false, prefix);
    auto a = open_redis_registry(options_for(false, prefix, 500ms));
    auto b = open_redis_registry(options_for(false, prefix, 500ms));
    contract::subscribe(*a, "before", "app:a:model:task", "");
    ASSERT_TRUE(eventually([&] { return devices_reached(*b, "{}") == std::vector<std::string>{"before"}; }));
    const auto reloads = b->status().reloads;

    control("SLUICE_TEST_REDIS_CTL", "stop");
    expect_down(*a, *b, "during", {"before"});
    EXPECT_THROW(a->subscriptions_of("before"), sluice::unavailable);
    EXPECT_THROW(b->devices(), sluice::unavailable);

    control("SLUICE_TEST_REDIS_CTL", "start");
    // The writer recovers by itself; its subscription, made while the follower may still be
    // reconnecting, reaches the follower's reloaded index.
    EXPECT_TRUE(eventually([&] {
        contract::subscribe(*a, "during", "app:a:model:task", "");
        return true;
    }));
    EXPECT_TRUE(eventually([&] {
        return devices_reached(*b, "{}") == std::vector<std::string>{"before", "during"};
    }));
    EXPECT_GT(b->status().reloads, reloads);
    EXPECT_TRUE(b->status().live);
    EXPECT_EQ(contract::channels_of(*a, "before"),
              std::set<std::string>{"app:a:model:task"});  // kept across the restart
    delete_keys(false, prefix);
}

TEST(RedisRegistryOutage, AFrozenRedisTimesOutAndIsRecoveredFrom) {
    // SIGSTOP: the connections stay open but nothing answers. hiredis 0.14 has no command
    // timeout: our deadlines must end the calls, and the stuck connections must be replaced.
    const std::string prefix = "t:" + std::to_string(::getpid()) + ":frozen";
    delete_keys(false, prefix);
    auto a = open_redis_registry(options_for(false, prefix, 400ms));
    auto b = open_redis_registry(options_for(false, prefix, 400ms));
    contract::subscribe(*a, "before", "app:a:model:task", "");
    ASSERT_TRUE(eventually([&] { return devices_reached(*b, "{}") == std::vector<std::string>{"before"}; }));

    control("SLUICE_TEST_REDIS_CTL", "freeze");
    for (int i = 0; i < 3; ++i) {
        const auto started = std::chrono::steady_clock::now();
        EXPECT_THROW(contract::subscribe(*a, "during", "app:a:model:task", ""), sluice::unavailable);
        EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms) << "a call outlived its timeout";
    }
    EXPECT_TRUE(eventually([&] {
        try {
            EXPECT_EQ(devices_reached(*b, "{}"), std::vector<std::string>{"before"})
                << "a wrong answer while frozen";
            return false;
        } catch (const sluice::unavailable&) {
            return true;
        }
    }));
    control("SLUICE_TEST_REDIS_CTL", "thaw");
    EXPECT_TRUE(eventually([&] {
        contract::subscribe(*a, "after", "app:a:model:task", "");
        return true;
    }));
    // "during" may or may not have been written (its calls threw): both answers are allowed.
    EXPECT_TRUE(eventually([&] {
        auto reached = devices_reached(*b, "{}");
        reached.erase(std::remove(reached.begin(), reached.end(), "during"), reached.end());
        return reached == std::vector<std::string>{"after", "before"} && b->status().live;
    }));
    std::vector<std::string> in_redis = contract::sorted(a->devices());
    EXPECT_TRUE(eventually([&] { return devices_reached(*b, "{}") == in_redis; }));
    delete_keys(false, prefix);
}

/// The 1-based number (as in redis-cluster.sh) of the node that serves `slot`, and the node ids.
struct cluster_view {
    std::map<int, std::string> id_of;  // node number -> node id
    std::map<int, int> port_of;        // node number -> port
    int owner(unsigned slot) {
        raw any(port_of.begin()->second);
        auto r = any.run({"CLUSTER", "SLOTS"});
        for (std::size_t i = 0; i < r->elements; ++i) {
            auto* range = r->element[i];
            if (slot < static_cast<unsigned>(range->element[0]->integer) ||
                slot > static_cast<unsigned>(range->element[1]->integer))
                continue;
            int port = static_cast<int>(range->element[2]->element[1]->integer);
            for (auto& [n, p] : port_of) {
                if (p == port) return n;
            }
        }
        return 0;
    }
};

cluster_view view_cluster() {
    cluster_view v;
    auto all = urls(true);
    for (std::size_t i = 0; i < all.size(); ++i) {
        const int n = static_cast<int>(i) + 1;
        v.port_of[n] = port_of(all[i]);
        raw node(v.port_of[n]);
        v.id_of[n] = node.text({"CLUSTER", "MYID"});
    }
    return v;
}

unsigned slot_of(const std::string& key) {
    raw node(port_of(urls(true).front()));
    return static_cast<unsigned>(node.integer({"CLUSTER", "KEYSLOT", key}));
}

TEST(RedisRegistryOutage, AClusterNodeRestartIsSurvived) {
    const std::string prefix = "t:" + std::to_string(::getpid()) + ":node-restart";
    delete_keys(true, prefix);
    auto view = view_cluster();
    // Restart the node that holds the feed: every follower loses its feed and must reload.
    const int feed_node = view.owner(slot_of(prefix + ":{feed}:stream"));
    ASSERT_NE(feed_node, 0);
    std::string on_feed_node, elsewhere;
    for (int i = 0; on_feed_node.empty() || elsewhere.empty(); ++i) {
        std::string device = "dev-" + std::to_string(i);
        (view.owner(slot_of("{" + device + "}")) == feed_node ? on_feed_node : elsewhere) = device;
    }
    auto a = open_redis_registry(options_for(true, prefix, 500ms));
    auto b = open_redis_registry(options_for(true, prefix, 500ms));
    contract::subscribe(*a, elsewhere, "app:a:model:task", "");
    ASSERT_TRUE(eventually([&] { return devices_reached(*b, "{}") == std::vector<std::string>{elsewhere}; }));
    const auto reloads = b->status().reloads;

    control("SLUICE_TEST_REDIS_CLUSTER_CTL", "stop-node " + std::to_string(feed_node));
    expect_down(*a, *b, on_feed_node, {elsewhere});
    // A device on a live node cannot be changed either: the change could not reach the feed.
    EXPECT_THROW(contract::subscribe(*a, elsewhere, "app:a:model:note", ""), sluice::unavailable);

    control("SLUICE_TEST_REDIS_CLUSTER_CTL", "start-node " + std::to_string(feed_node));
    EXPECT_TRUE(eventually([&] {
        contract::subscribe(*a, on_feed_node, "app:a:model:task", "");
        return true;
    }));
    auto expected = contract::sorted({elsewhere, on_feed_node});
    EXPECT_TRUE(eventually([&] { return devices_reached(*b, "{}") == expected; }))
        << ::testing::PrintToString(devices_reached(*b, "{}"));
    EXPECT_GT(b->status().reloads, reloads);
    EXPECT_EQ(contract::sorted(a->devices()), expected);
    delete_keys(true, prefix);
}

/// CRC16 (XMODEM), as the cluster spec gives it: to pick device names that share a slot.
unsigned crc16_slot(const std::string& tag) {
    std::uint16_t crc = 0;
    for (unsigned char c : tag) {
        crc ^= static_cast<std::uint16_t>(c << 8);
        for (int b = 0; b < 8; ++b)
            crc = static_cast<std::uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc & 16383;
}

TEST(RedisRegistryCluster, ClassicPublishReachesSubscribersOfEveryNode) {
    // The registry's feed is a stream, not pub/sub (registry.hpp says why: pub/sub is at most
    // once, and a message lost on the cluster bus leaves no trace). This checks the cluster
    // property that design weighed: a PUBLISH on one node reaches subscribers of the others.
    auto all = urls(true);
    ASSERT_EQ(all.size(), 3u);
    std::vector<std::unique_ptr<raw>> subscribers;
    const std::string channel = "t:" + std::to_string(::getpid()) + ":broadcast";
    for (const auto& url : all) {
        subscribers.push_back(std::make_unique<raw>(port_of(url)));
        subscribers.back()->run({"SUBSCRIBE", channel});
    }
    raw publisher(port_of(all[0]));
    publisher.run({"PUBLISH", channel, "hello"});
    for (auto& s : subscribers) {
        auto m = s->next(5s);
        ASSERT_TRUE(m) << "no message on node " << s->port();
        ASSERT_EQ(m->elements, 3u);
        EXPECT_EQ(std::string(m->element[0]->str), "message");
        EXPECT_EQ(std::string(m->element[2]->str), "hello");
    }
}

TEST(RedisRegistryCluster, FollowsAskAndMovedWhileASlotMigrates) {
    const std::string prefix = "t:" + std::to_string(::getpid()) + ":migrate";
    delete_keys(true, prefix);
    auto view = view_cluster();
    const std::string mover = "mover";
    const unsigned slot = slot_of("{" + mover + "}");
    ASSERT_EQ(crc16_slot(mover), slot);  // our oracle agrees with the server
    std::string newcomer;
    for (int i = 0; newcomer.empty(); ++i) {
        if (crc16_slot("newcomer-" + std::to_string(i)) == slot) newcomer = "newcomer-" + std::to_string(i);
    }
    const int source = view.owner(slot);
    const int target = source % 3 + 1;
    ASSERT_NE(source, 0);
    // The slot stays on `target` afterwards: later tests only need a stable cluster.

    auto a = open_redis_registry(options_for(true, prefix));
    auto b = open_redis_registry(options_for(true, prefix));
    contract::subscribe(*a, mover, "app:a:model:task", "");
    ASSERT_TRUE(eventually([&] { return devices_reached(*b, "{}") == std::vector<std::string>{mover}; }));
    EXPECT_EQ(contract::channels_of(*b, mover).size(), 1u);  // b's slot map now knows the source

    raw src(view.port_of[source]), dst(view.port_of[target]);
    dst.run({"CLUSTER", "SETSLOT", std::to_string(slot), "IMPORTING", view.id_of[source]});
    src.run({"CLUSTER", "SETSLOT", std::to_string(slot), "MIGRATING", view.id_of[target]});

    // While the slot migrates, a device whose keys are on neither node yet cannot be written:
    // the source answers ASK, the target TRYAGAIN (a multi-key script with missing keys), until
    // the deadline: `unavailable`, as for any outage, and nothing written.
    auto quick = open_redis_registry(options_for(true, prefix, 300ms));
    EXPECT_THROW(contract::subscribe(*quick, newcomer, "app:a:model:task", ""), sluice::unavailable);

    // Move the existing keys. The source no longer has them: it answers ASK, and the client sends
    // ASKING and the script to the target.
    auto keys = src.run({"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), "100"});
    std::vector<std::string> migrate{"MIGRATE", "127.0.0.1", std::to_string(view.port_of[target]), "", "0",
                                     "5000",    "KEYS"};
    for (std::size_t i = 0; i < keys->elements; ++i)
        migrate.emplace_back(keys->element[i]->str, keys->element[i]->len);
    ASSERT_EQ(migrate.size(), 9u);  // subs and version of `mover`
    src.run(migrate);
    const auto asked = a->status().asked;
    contract::subscribe(*a, mover, "app:a:model:note", "");
    EXPECT_GT(a->status().asked, asked);
    dst.run({"ASKING"});
    EXPECT_EQ(dst.integer({"HLEN", prefix + ":{" + mover + "}:subs"}), 2) << "not written on the target";

    // Hand the slot over: the clients' maps are now stale.
    dst.run({"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", view.id_of[target]});
    src.run({"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", view.id_of[target]});
    raw third(view.port_of[6 - source - target]);
    third.run({"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", view.id_of[target]});

    // b's next write of `mover` goes to the source, gets MOVED, and lands on the target; so
    // does a's first write of the newcomer.
    const auto moved_a = a->status().moved, moved_b = b->status().moved;
    contract::subscribe(*b, mover, "app:a:model:list", "");
    contract::subscribe(*a, newcomer, "app:a:model:task", "");
    EXPECT_GT(b->status().moved, moved_b);
    EXPECT_GT(a->status().moved, moved_a);
    EXPECT_EQ(dst.integer({"HLEN", prefix + ":{" + mover + "}:subs"}), 3);
    EXPECT_EQ(dst.integer({"EXISTS", prefix + ":{" + newcomer + "}:subs"}), 1);
    EXPECT_EQ(contract::channels_of(*a, mover),
              (std::set<std::string>{"app:a:model:task", "app:a:model:note", "app:a:model:list"}));
    EXPECT_TRUE(eventually([&] { return devices_reached(*b, "{}") == contract::sorted({mover, newcomer}); }));
    EXPECT_TRUE(eventually([&] { return devices_reached(*a, "{}") == contract::sorted({mover, newcomer}); }));
    // A process started now loads both devices from the target.
    auto c = open_redis_registry(options_for(true, prefix));
    EXPECT_TRUE(eventually([&] { return devices_reached(*c, "{}") == contract::sorted({mover, newcomer}); }));
    delete_keys(true, prefix);
}

}  // namespace
