#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sluice/channel/channel.hpp>
#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/registry/registry.hpp>

#include "../temp_file.hpp"
#include "registry_contract.hpp"

namespace {

// The registry contract (registry_contract.hpp), shared with the Redis registry.
std::filesystem::path contract_file(const std::string& unique) {
    return std::filesystem::temp_directory_path() / ("sluice_registry_" + unique + ".db");
}

sluice::testing::registry_backend embedded_backend() {
    return {"embedded",
            [](const std::string& unique) {
                for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(contract_file(unique).string() + suffix);
                return sluice::registry::open_embedded(contract_file(unique));
            },
            [](const std::string& unique) {
                for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(contract_file(unique).string() + suffix);
            }};
}

}  // namespace

using sluice::testing::RegistryContract;
INSTANTIATE_TEST_SUITE_P(Registry, RegistryContract, ::testing::Values(embedded_backend()), sluice::testing::backend_name);

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

TEST(EmbeddedRegistry, RefusedSubscriptionsAreNotPersisted) {
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

}  // namespace
