#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sluice/channel/channel.hpp>
#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/registry/registry.hpp>

#include "../temp_file.hpp"

namespace {

using namespace sluice::registry;
namespace bj = boost::json;
using sluice::testing::temp_database;

const std::vector<std::string> task_1 = sluice::channel::channels_for({"a", "task", "1", "u"});

/// The channel name of a subscription on `pattern` with the filter `filter` (JSON text, or empty).
std::string name_of(const std::string& pattern, const std::string& filter) {
    if (filter.empty()) return pattern;
    return pattern + ":filter:" + sluice::channel::filter_id(sluice::parse_json(filter));
}

std::string subscribe(registry& r, const std::string& device, const std::string& pattern,
                      const std::string& filter, std::size_t limit = 1000) {
    std::string name = name_of(pattern, filter);
    bj::value source = filter.empty() ? bj::value() : sluice::parse_json(filter);
    std::optional<sluice::json::filter> compiled;
    if (!filter.empty()) compiled = sluice::json::filter::compile(source);
    r.subscribe({device, "a", "u", name, source}, std::move(compiled), limit);
    return name;
}

/// Routes of a change to task 1, sorted by device then kind, with sorted channels.
std::vector<route> find(registry& r, const char* before, const char* after) {
    bj::value b = before ? sluice::parse_json(before) : bj::value();
    bj::value a = after ? sluice::parse_json(after) : bj::value();
    std::vector<route> out;
    r.find(task_1, before ? &b : nullptr, after ? &a : nullptr, out);
    for (auto& x : out) std::sort(x.channels.begin(), x.channels.end());
    std::sort(out.begin(), out.end(), [](const route& x, const route& y) {
        return std::tie(x.device, x.kind) < std::tie(y.device, y.kind);
    });
    return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

std::set<std::string> channels_of(registry& r, const std::string& device) {
    std::set<std::string> out;
    for (const auto& s : r.subscriptions_of(device)) out.insert(s.channel);
    return out;
}

TEST(EmbeddedRegistry, FilteredSubscriptionsOnOneModelSideBySide) {
    temp_database db("sluice_registry_");
    auto r = open_embedded(db.path());
    auto open = subscribe(*r, "d", "app:a:model:task", R"({"status":"open"})");
    auto mine = subscribe(*r, "d", "app:a:model:task", R"({"assignee":"me"})");
    auto all = subscribe(*r, "d", "app:a:model:task", "");
    EXPECT_EQ(open, "app:a:model:task:filter:bc99066a8b813e76");
    EXPECT_NE(open, mine);
    EXPECT_EQ(all, "app:a:model:task");
    EXPECT_EQ(r->size(), 3u);
    EXPECT_EQ(channels_of(*r, "d"), (std::set<std::string>{open, mine, all}));
}

TEST(EmbeddedRegistry, SubscribingAgainIsIdempotent) {
    temp_database db("sluice_registry_");
    auto r = open_embedded(db.path());
    auto first = subscribe(*r, "d", "app:a:model:task", R"({"status":"open","n":{"$gt":1}})");
    auto again =
        subscribe(*r, "d", "app:a:model:task", R"({"n":{"$gt":1},"status":"open"})");  // keys reordered
    EXPECT_EQ(first, again);
    EXPECT_EQ(r->size(), 1u);
    auto routes = find(*r, nullptr, R"({"status":"open","n":2})");
    ASSERT_EQ(routes.size(), 1u);
    EXPECT_EQ(routes[0].channels, std::vector<std::string>{first});
}

TEST(EmbeddedRegistry, UnsubscribeRemovesExactlyOne) {
    temp_database db("sluice_registry_");
    auto r = open_embedded(db.path());
    auto open = subscribe(*r, "d", "app:a:model:task", R"({"status":"open"})");
    auto mine = subscribe(*r, "d", "app:a:model:task", R"({"assignee":"me"})");
    subscribe(*r, "other", "app:a:model:task", R"({"status":"open"})");
    EXPECT_TRUE(r->unsubscribe("d", open));
    EXPECT_FALSE(r->unsubscribe("d", open));
    EXPECT_EQ(channels_of(*r, "d"), std::set<std::string>{mine});
    EXPECT_EQ(channels_of(*r, "other"), std::set<std::string>{open});
    auto routes = find(*r, nullptr, R"({"status":"open","assignee":"me"})");
    ASSERT_EQ(routes.size(), 2u);
    EXPECT_EQ(routes[0].device, "d");
    EXPECT_EQ(routes[0].channels, std::vector<std::string>{mine});
    EXPECT_EQ(routes[1].device, "other");
}

TEST(EmbeddedRegistry, OneRoutePerDeviceAndKindNamingEveryMatchedChannel) {
    temp_database db("sluice_registry_");
    auto r = open_embedded(db.path());
    auto open = subscribe(*r, "d", "app:a:model:task", R"({"status":"open"})");
    auto mine = subscribe(*r, "d", "app:a:model:task", R"({"assignee":"me"})");
    auto doc = subscribe(*r, "d", "app:a:user:u:model:task:id:1", "");
    subscribe(*r, "d", "app:a:model:task", R"({"status":"closed"})");  // matches neither side
    subscribe(*r, "e", "app:a:model:task", R"({"status":"open"})");

    auto created = find(*r, nullptr, R"({"status":"open","assignee":"me"})");
    ASSERT_EQ(created.size(), 2u);
    EXPECT_EQ(created[0].device, "d");
    EXPECT_EQ(created[0].kind, change_kind::created);
    EXPECT_EQ(created[0].channels, sorted({open, mine, doc}));
    EXPECT_EQ(created[1].device, "e");

    // The document leaves one filtered view and stays in the others: one `left`, one `updated`.
    auto moved = find(*r, R"({"status":"open","assignee":"me"})", R"({"status":"done","assignee":"me"})");
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

TEST(EmbeddedRegistry, ManyEqualitySubscriptionsOfOneDeviceRouteToTheOneThatMatches) {
    temp_database db("sluice_registry_");
    auto r = open_embedded(db.path());
    for (int j = 0; j < 1000; ++j)
        subscribe(*r, "d", "app:a:model:task", R"({"k":"d-)" + std::to_string(j) + "\"}");
    auto routes = find(*r, nullptr, R"({"k":"d-417"})");
    ASSERT_EQ(routes.size(), 1u);
    EXPECT_EQ(routes[0].channels, std::vector<std::string>{name_of("app:a:model:task", R"({"k":"d-417"})")});
    EXPECT_TRUE(find(*r, nullptr, R"({"k":"d-1000"})").empty());
}

TEST(EmbeddedRegistry, SubscriptionsPerDeviceAreBounded) {
    temp_database db("sluice_registry_");
    auto r = open_embedded(db.path());
    std::vector<std::string> names;
    for (int j = 0; j < 3; ++j)
        names.push_back(subscribe(*r, "d", "app:a:model:task", R"({"n":)" + std::to_string(j) + "}", 3));
    try {
        subscribe(*r, "d", "app:a:model:task", R"({"n":3})", 3);
        ADD_FAILURE() << "a fourth subscription was accepted";
    } catch (const sluice::error& e) {
        EXPECT_EQ(e.code(), "too_many_subscriptions");
        EXPECT_NE(std::string(e.what()).find("limits.subscriptions_per_device"), std::string::npos)
            << e.what();
    }
    EXPECT_EQ(r->size(), 3u);
    EXPECT_EQ(subscribe(*r, "d", "app:a:model:task", R"({"n":1})", 3),
              names[1]);                                          // at the limit, again: fine
    subscribe(*r, "other", "app:a:model:task", R"({"n":3})", 3);  // another device
    EXPECT_TRUE(r->unsubscribe("d", names[0]));
    subscribe(*r, "d", "app:a:model:task", R"({"n":3})", 3);
    EXPECT_EQ(r->size(), 4u);
    // The refused subscription was not persisted either.
    r.reset();
    r = open_embedded(db.path());
    EXPECT_EQ(r->size(), 4u);
}

TEST(EmbeddedRegistry, SubscriptionsSurviveAReopen) {
    temp_database db("sluice_registry_");
    std::set<std::string> before;
    {
        auto r = open_embedded(db.path());
        subscribe(*r, "d", "app:a:model:task", R"({"status":"open"})");
        subscribe(*r, "d", "app:a:model:task", R"({"assignee":"me"})");
        subscribe(*r, "d", "app:a:model:task:id:1", "");
        before = channels_of(*r, "d");
    }
    auto r = open_embedded(db.path());
    EXPECT_EQ(channels_of(*r, "d"), before);
    EXPECT_EQ(r->devices(), std::vector<std::string>{"d"});
    auto routes = find(*r, R"({"status":"open","assignee":"me"})", R"({"status":"done","assignee":"me"})");
    ASSERT_EQ(routes.size(), 2u);
    EXPECT_EQ(routes[0].kind, change_kind::updated);
    EXPECT_EQ(routes[0].channels.size(), 2u);
    EXPECT_EQ(routes[1].kind, change_kind::left);
    // And they are still idempotent.
    subscribe(*r, "d", "app:a:model:task", R"({"status":"open"})");
    EXPECT_EQ(r->size(), 3u);
}

TEST(EmbeddedRegistry, RenamesFilteredRowsOfTheOldScheme) {
    temp_database db("sluice_registry_");
    {
        // Before filtered subscriptions were channels of their own: the filter under the pattern.
        SQLite::Database old(db.path().string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        old.exec(
            "CREATE TABLE subscriptions (device TEXT NOT NULL, channel TEXT NOT NULL, app TEXT NOT NULL, "
            "user TEXT NOT NULL, filter TEXT, PRIMARY KEY (device, channel))");
        old.exec(
            R"(INSERT INTO subscriptions VALUES ('d', 'app:a:model:task', 'a', 'u', '{"status":"open"}'))");
        old.exec(R"(INSERT INTO subscriptions VALUES ('d', 'app:a:model:task:id:1', 'a', 'u', NULL))");
    }
    const std::string renamed = "app:a:model:task:filter:bc99066a8b813e76";
    for (int open = 0; open < 2; ++open) {  // a second open finds nothing left to rename
        auto r = open_embedded(db.path());
        EXPECT_EQ(channels_of(*r, "d"), (std::set<std::string>{renamed, "app:a:model:task:id:1"}));
        auto routes = find(*r, nullptr, R"({"status":"open"})");
        ASSERT_EQ(routes.size(), 1u);
        EXPECT_EQ(routes[0].channels, sorted({renamed, "app:a:model:task:id:1"}));
        EXPECT_TRUE(find(*r, nullptr, R"({"status":"closed"})")[0].channels ==
                    std::vector<std::string>{"app:a:model:task:id:1"});
    }
    auto r = open_embedded(db.path());
    subscribe(*r, "d", "app:a:model:task", R"({"status":"open"})");  // what the client would do
    EXPECT_EQ(r->size(), 2u);
    EXPECT_TRUE(r->unsubscribe("d", renamed));
}

TEST(EmbeddedRegistry, RejectsNamesThatAreNotChannels) {
    temp_database db("sluice_registry_");
    auto r = open_embedded(db.path());
    EXPECT_THROW(r->subscribe({"d", "a", "u", "app:a:model:task:filter:XYZ", nullptr}, std::nullopt, 10),
                 sluice::invalid_input);
    EXPECT_EQ(r->size(), 0u);
}

}  // namespace
