#pragma once
// The contract of `registry::registry` (registry.hpp), as parametrised tests that every
// implementation runs: the embedded one in the registry unit binary, the Redis one (standalone
// and cluster) in the redis integration binary. A binary instantiates the suite with
//
//   INSTANTIATE_TEST_SUITE_P(Name, RegistryContract, ::testing::Values(backend{...}, ...),
//                            sluice::testing::backend_name);
//
// Each test opens a fresh, empty registry through the backend's `open`, with a name unique to the
// test (a file name, a key prefix).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <ostream>
#include <set>
#include <sluice/channel/channel.hpp>
#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/registry/registry.hpp>
#include <string>
#include <tuple>
#include <vector>

namespace sluice::testing {

struct registry_backend {
    std::string name;
    /// Opens an empty registry for the test named `unique` (unique per process and test).
    std::function<std::unique_ptr<registry::registry>(const std::string& unique)> open;
    /// Removes what `open` created, after the test.
    std::function<void(const std::string& unique)> cleanup = [](const std::string&) {};
};

inline void PrintTo(const registry_backend& b, std::ostream* os) {
    *os << b.name;
}

inline std::string backend_name(const ::testing::TestParamInfo<registry_backend>& info) {
    return info.param.name;
}

namespace contract {

namespace bj = boost::json;
using namespace sluice::registry;

inline const std::vector<std::string>& task_1() {
    static const std::vector<std::string> channels = sluice::channel::channels_for({"a", "task", "1", "u"});
    return channels;
}

/// The channel name of a subscription on `pattern` with the filter `filter` (JSON text, or empty).
inline std::string name_of(const std::string& pattern, const std::string& filter) {
    if (filter.empty()) return pattern;
    return pattern + ":filter:" + sluice::channel::filter_id(sluice::parse_json(filter));
}

inline std::string subscribe(registry::registry& r, const std::string& device, const std::string& pattern,
                             const std::string& filter, std::size_t limit = 1000) {
    std::string name = name_of(pattern, filter);
    bj::value source = filter.empty() ? bj::value() : sluice::parse_json(filter);
    std::optional<sluice::json::filter> compiled;
    if (!filter.empty()) compiled = sluice::json::filter::compile(source);
    r.subscribe({device, "a", "u", name, source}, std::move(compiled), limit);
    return name;
}

/// Routes of a change to task 1, sorted by device then kind, with sorted channels.
inline std::vector<route> find(registry::registry& r, const char* before, const char* after) {
    bj::value b = before ? sluice::parse_json(before) : bj::value();
    bj::value a = after ? sluice::parse_json(after) : bj::value();
    std::vector<route> out;
    r.find(task_1(), before ? &b : nullptr, after ? &a : nullptr, out);
    for (auto& x : out) std::sort(x.channels.begin(), x.channels.end());
    std::sort(out.begin(), out.end(), [](const route& x, const route& y) {
        return std::tie(x.device, x.kind) < std::tie(y.device, y.kind);
    });
    return out;
}

inline std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

inline std::set<std::string> channels_of(registry::registry& r, const std::string& device) {
    std::set<std::string> out;
    for (const auto& s : r.subscriptions_of(device)) out.insert(s.channel);
    return out;
}

}  // namespace contract

class RegistryContract : public ::testing::TestWithParam<registry_backend> {
  protected:
    void SetUp() override {
        unique_ = "c" + std::to_string(::getpid()) + "_" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name();
        std::replace(unique_.begin(), unique_.end(), '/', '_');
        r_ = GetParam().open(unique_);
    }
    void TearDown() override {
        r_.reset();
        GetParam().cleanup(unique_);
    }
    registry::registry& r() { return *r_; }

    std::string unique_;
    std::unique_ptr<registry::registry> r_;
};

namespace contract {

TEST_P(RegistryContract, FilteredSubscriptionsOnOneModelSideBySide) {
    auto open = subscribe(r(), "d", "app:a:model:task", R"({"status":"open"})");
    auto mine = subscribe(r(), "d", "app:a:model:task", R"({"assignee":"me"})");
    auto all = subscribe(r(), "d", "app:a:model:task", "");
    EXPECT_EQ(open, "app:a:model:task:filter:bc99066a8b813e76");
    EXPECT_NE(open, mine);
    EXPECT_EQ(all, "app:a:model:task");
    EXPECT_EQ(r().size(), 3u);
    EXPECT_EQ(channels_of(r(), "d"), (std::set<std::string>{open, mine, all}));
}

TEST_P(RegistryContract, SubscribingAgainIsIdempotent) {
    auto first = subscribe(r(), "d", "app:a:model:task", R"({"status":"open","n":{"$gt":1}})");
    auto again =
        subscribe(r(), "d", "app:a:model:task", R"({"n":{"$gt":1},"status":"open"})");  // keys reordered
    EXPECT_EQ(first, again);
    EXPECT_EQ(r().size(), 1u);
    EXPECT_EQ(r().subscriptions_of("d").size(), 1u);
    auto routes = find(r(), nullptr, R"({"status":"open","n":2})");
    ASSERT_EQ(routes.size(), 1u);
    EXPECT_EQ(routes[0].channels, std::vector<std::string>{first});
}

TEST_P(RegistryContract, UnsubscribeRemovesExactlyOne) {
    auto open = subscribe(r(), "d", "app:a:model:task", R"({"status":"open"})");
    auto mine = subscribe(r(), "d", "app:a:model:task", R"({"assignee":"me"})");
    subscribe(r(), "other", "app:a:model:task", R"({"status":"open"})");
    EXPECT_TRUE(r().unsubscribe("d", open));
    EXPECT_FALSE(r().unsubscribe("d", open));
    EXPECT_EQ(channels_of(r(), "d"), std::set<std::string>{mine});
    EXPECT_EQ(channels_of(r(), "other"), std::set<std::string>{open});
    auto routes = find(r(), nullptr, R"({"status":"open","assignee":"me"})");
    ASSERT_EQ(routes.size(), 2u);
    EXPECT_EQ(routes[0].device, "d");
    EXPECT_EQ(routes[0].channels, std::vector<std::string>{mine});
    EXPECT_EQ(routes[1].device, "other");
}

TEST_P(RegistryContract, OneRoutePerDeviceAndKindNamingEveryMatchedChannel) {
    auto open = subscribe(r(), "d", "app:a:model:task", R"({"status":"open"})");
    auto mine = subscribe(r(), "d", "app:a:model:task", R"({"assignee":"me"})");
    auto doc = subscribe(r(), "d", "app:a:user:u:model:task:id:1", "");
    subscribe(r(), "d", "app:a:model:task", R"({"status":"closed"})");  // matches neither side
    subscribe(r(), "e", "app:a:model:task", R"({"status":"open"})");

    auto created = find(r(), nullptr, R"({"status":"open","assignee":"me"})");
    ASSERT_EQ(created.size(), 2u);
    EXPECT_EQ(created[0].device, "d");
    EXPECT_EQ(created[0].kind, change_kind::created);
    EXPECT_EQ(created[0].channels, sorted({open, mine, doc}));
    EXPECT_EQ(created[1].device, "e");

    // The document leaves one filtered view and stays in the others: one `left`, one `updated`.
    auto moved = find(r(), R"({"status":"open","assignee":"me"})", R"({"status":"done","assignee":"me"})");
    ASSERT_EQ(moved.size(), 3u);
    EXPECT_EQ(moved[0].device, "d");
    EXPECT_EQ(moved[0].kind, change_kind::updated);
    EXPECT_EQ(moved[0].channels, sorted({mine, doc}));
    EXPECT_EQ(moved[1].device, "d");
    EXPECT_EQ(moved[1].kind, change_kind::left);
    EXPECT_EQ(moved[1].channels, std::vector<std::string>{open});
    EXPECT_EQ(moved[2].device, "e");
    EXPECT_EQ(moved[2].kind, change_kind::left);
}

TEST_P(RegistryContract, ManyEqualitySubscriptionsOfOneDeviceRouteToTheOneThatMatches) {
    for (int j = 0; j < 1000; ++j)
        subscribe(r(), "d", "app:a:model:task", R"({"k":"d-)" + std::to_string(j) + "\"}");
    auto routes = find(r(), nullptr, R"({"k":"d-417"})");
    ASSERT_EQ(routes.size(), 1u);
    EXPECT_EQ(routes[0].channels, std::vector<std::string>{name_of("app:a:model:task", R"({"k":"d-417"})")});
    EXPECT_TRUE(find(r(), nullptr, R"({"k":"d-1000"})").empty());
}

TEST_P(RegistryContract, SubscriptionsPerDeviceAreBounded) {
    std::vector<std::string> names;
    for (int j = 0; j < 3; ++j)
        names.push_back(subscribe(r(), "d", "app:a:model:task", R"({"n":)" + std::to_string(j) + "}", 3));
    try {
        subscribe(r(), "d", "app:a:model:task", R"({"n":3})", 3);
        ADD_FAILURE() << "a fourth subscription was accepted";
    } catch (const sluice::error& e) {
        EXPECT_EQ(e.code(), "too_many_subscriptions");
        EXPECT_NE(std::string(e.what()).find("limits.subscriptions_per_device"), std::string::npos)
            << e.what();
    }
    EXPECT_EQ(r().size(), 3u);
    EXPECT_EQ(r().subscriptions_of("d").size(), 3u);
    EXPECT_EQ(subscribe(r(), "d", "app:a:model:task", R"({"n":1})", 3),
              names[1]);                                           // at the limit, again: fine
    subscribe(r(), "other", "app:a:model:task", R"({"n":3})", 3);  // another device
    EXPECT_TRUE(r().unsubscribe("d", names[0]));
    subscribe(r(), "d", "app:a:model:task", R"({"n":3})", 3);
    EXPECT_EQ(r().size(), 4u);
}

TEST_P(RegistryContract, ForgetDeviceRemovesAllOfItsSubscriptionsOnly) {
    subscribe(r(), "d", "app:a:model:task", R"({"status":"open"})");
    subscribe(r(), "d", "app:a:model:task:id:1", "");
    auto kept = subscribe(r(), "e", "app:a:model:task", "");
    r().forget_device("d");
    r().forget_device("nobody");  // nothing to forget: fine
    EXPECT_TRUE(r().subscriptions_of("d").empty());
    EXPECT_EQ(channels_of(r(), "e"), std::set<std::string>{kept});
    EXPECT_EQ(r().devices(), std::vector<std::string>{"e"});
    EXPECT_EQ(r().size(), 1u);
    auto routes = find(r(), nullptr, R"({"status":"open"})");
    ASSERT_EQ(routes.size(), 1u);
    EXPECT_EQ(routes[0].device, "e");
    // A forgotten device can subscribe again.
    subscribe(r(), "d", "app:a:model:task", "");
    EXPECT_EQ(find(r(), nullptr, R"({"status":"open"})").size(), 2u);
}

TEST_P(RegistryContract, DevicesListsThoseWithSubscriptions) {
    EXPECT_TRUE(r().devices().empty());
    subscribe(r(), "b", "app:a:model:task", "");
    subscribe(r(), "a", "app:a:model:task", "");
    subscribe(r(), "a", "app:a:model:note", "");
    subscribe(r(), "odd {device}%", "app:a:model:task", "");  // ids are opaque to the registry
    subscribe(r(), "gone", "app:a:model:task", "");
    EXPECT_TRUE(r().unsubscribe("gone", "app:a:model:task"));
    EXPECT_EQ(sorted(r().devices()), (std::vector<std::string>{"a", "b", "odd {device}%"}));
    EXPECT_EQ(channels_of(r(), "odd {device}%"), std::set<std::string>{"app:a:model:task"});
    auto routes = find(r(), nullptr, R"({"x":1})");
    EXPECT_EQ(routes.size(), 3u);
}

TEST_P(RegistryContract, SubscriptionsKeepAppUserAndFilter) {
    auto name = subscribe(r(), "d", "app:a:model:task", R"({"status":"open"})");
    auto subs = r().subscriptions_of("d");
    ASSERT_EQ(subs.size(), 1u);
    EXPECT_EQ(subs[0].device, "d");
    EXPECT_EQ(subs[0].app, "a");
    EXPECT_EQ(subs[0].user, "u");
    EXPECT_EQ(subs[0].channel, name);
    EXPECT_EQ(subs[0].filter, sluice::parse_json(R"({"status":"open"})"));
}

TEST_P(RegistryContract, RejectsNamesThatAreNotChannels) {
    EXPECT_THROW(r().subscribe({"d", "a", "u", "app:a:model:task:filter:XYZ", nullptr}, std::nullopt, 10),
                 sluice::invalid_input);
    EXPECT_THROW(r().subscribe({"d", "a", "u", "", nullptr}, std::nullopt, 10), sluice::invalid_input);
    EXPECT_EQ(r().size(), 0u);
    EXPECT_TRUE(r().subscriptions_of("d").empty());
}

}  // namespace contract

}  // namespace sluice::testing
