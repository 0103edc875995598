#include <sluice/core/json_io.hpp>
#include <sluice/registry/subscription_index.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <boost/json/serialize.hpp>

namespace {

using namespace sluice::registry;
using sluice::json::filter;
namespace bj = boost::json;

const std::vector<std::string> channels = {"app:a:model:task", "app:a:model:task:id:1", "app:a:user:u:model:task",
                                           "app:a:user:u:model:task:id:1"};

std::vector<match> find(subscription_index& index, const char* before, const char* after) {
    bj::value b = before ? sluice::parse_json(before) : bj::value();
    bj::value a = after ? sluice::parse_json(after) : bj::value();
    std::vector<match> out;
    index.find(channels, before ? &b : nullptr, after ? &a : nullptr, out);
    std::sort(out.begin(), out.end(), [](auto& x, auto& y) { return x.id < y.id; });
    return out;
}

TEST(SubscriptionIndex, UnfilteredSubscriptionsSeeEveryChangeOnTheirChannel) {
    subscription_index index;
    index.add(1, "app:a:model:task", std::nullopt);
    index.add(2, "app:a:user:u:model:task:id:1", std::nullopt);
    index.add(3, "app:a:model:note", std::nullopt);
    auto created = find(index, nullptr, R"({"x":1})");
    ASSERT_EQ(created.size(), 2u);
    EXPECT_EQ(created[0].kind, change_kind::created);
    EXPECT_EQ(created[0].channel_index, 0u);
    EXPECT_EQ(created[1].channel_index, 3u);
    EXPECT_EQ(find(index, R"({"x":1})", R"({"x":2})")[0].kind, change_kind::updated);
    EXPECT_EQ(find(index, R"({"x":1})", nullptr)[0].kind, change_kind::deleted);
}

TEST(SubscriptionIndex, FilteredSubscriptionsGetEnterAndLeave) {
    subscription_index index;
    index.add(1, "app:a:model:task", filter::compile(R"({"status":"open"})"));
    index.add(2, "app:a:model:task", filter::compile(R"({"n":{"$gt":5}})"));
    index.add(3, "app:a:model:task", filter::compile(R"({"$or":[{"n":1},{"status":"done"}]})"));

    auto r = find(index, R"({"status":"done","n":1})", R"({"status":"open","n":1})");
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0].id, 1u);
    EXPECT_EQ(r[0].kind, change_kind::entered);
    EXPECT_EQ(r[1].id, 3u);
    EXPECT_EQ(r[1].kind, change_kind::updated);  // still matches through n:1

    r = find(index, R"({"status":"open","n":9})", R"({"status":"closed","n":2})");
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0].kind, change_kind::left);
    EXPECT_EQ(r[1].kind, change_kind::left);

    r = find(index, R"({"status":"open","n":9})", nullptr);  // deletes reach matching filters
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0].kind, change_kind::deleted);

    EXPECT_TRUE(find(index, R"({"status":"x"})", R"({"status":"y"})").empty());
}

TEST(SubscriptionIndex, RemoveAndReplace) {
    subscription_index index;
    index.add(1, "app:a:model:task", filter::compile(R"({"status":{"$in":["open","new"]}})"));
    index.add(2, "app:a:model:task", filter::compile(R"({"n":{"$lt":5}})"));
    EXPECT_EQ(index.size(), 2u);
    EXPECT_TRUE(index.remove(1));
    EXPECT_FALSE(index.remove(1));
    EXPECT_EQ(find(index, nullptr, R"({"status":"open","n":9})").size(), 0u);
    index.add(2, "app:a:model:task", std::nullopt);
    EXPECT_EQ(index.size(), 1u);
    EXPECT_EQ(find(index, nullptr, R"({"status":"open","n":9})").size(), 1u);
    EXPECT_TRUE(index.remove(2));
    EXPECT_EQ(index.size(), 0u);
}

// The index must give exactly what evaluating every filter gives.
class SubscriptionIndexAgrees : public ::testing::TestWithParam<unsigned> {};

TEST_P(SubscriptionIndexAgrees, WithEvaluatingEveryFilter) {
    std::mt19937 rng(GetParam());
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    std::vector<std::string> queries;
    for (int i = 0; i < 400; ++i) {
        switch (pick(9)) {
            case 6: queries.push_back(R"({"n":{"$gt":)" + std::to_string(pick(10)) + R"(,"$lte":)" + std::to_string(pick(10)) + "}}"); break;
            case 7: queries.push_back(R"({"n":{"$gt":)" + std::to_string(pick(10)) + "}}"); break;
            case 8: queries.push_back(R"({"n":{"$lt":)" + std::to_string(pick(10)) + ".5}}"); break;
            case 0: queries.push_back(R"({"s":"v)" + std::to_string(pick(10)) + "\"}"); break;
            case 1: queries.push_back(R"({"n":{"$in":[)" + std::to_string(pick(10)) + "," + std::to_string(pick(10)) + "]}}"); break;
            case 2: queries.push_back(R"({"n":{"$gte":)" + std::to_string(pick(10)) + "}}"); break;
            case 3: queries.push_back(R"({"n":{"$lt":)" + std::to_string(pick(10)) + R"(},"s":{"$ne":"v1"}})"); break;
            case 4: queries.push_back(R"({"tags":"t)" + std::to_string(pick(5)) + "\"}"); break;
            default: queries.push_back(R"({"$or":[{"n":)" + std::to_string(pick(10)) + R"(},{"s":"v2"}]})"); break;
        }
    }
    subscription_index index;
    std::vector<filter> filters;
    for (std::size_t i = 0; i < queries.size(); ++i) {
        filters.push_back(filter::compile(queries[i]));
        index.add(i, channels[0], filters.back());
    }
    for (int round = 0; round < 1000; ++round) {
        auto doc = [&] {
            bj::object o;
            if (pick(4)) o["s"] = "v" + std::to_string(pick(10));
            switch (pick(6)) {
                case 0: break;  // missing
                case 1: o["n"] = bj::array{bj::value(pick(10)), bj::value(pick(10) + 0.5)}; break;
                case 2: o["n"] = "7"; break;
                case 3: o["n"] = pick(10) + 0.5; break;
                default: o["n"] = pick(10);
            }
            if (pick(2)) o["tags"] = bj::array{bj::value("t" + std::to_string(pick(5))), bj::value("t" + std::to_string(pick(5)))};
            return bj::value(std::move(o));
        };
        bj::value before = doc(), after = doc();
        const bj::value* b = pick(4) ? &before : nullptr;
        const bj::value* a = pick(4) || !b ? &after : nullptr;
        std::vector<match> got;
        index.find(std::span(channels).first(1), b, a, got);
        std::sort(got.begin(), got.end(), [](auto& x, auto& y) { return x.id < y.id; });
        std::vector<std::pair<subscription_id, change_kind>> want;
        for (std::size_t i = 0; i < filters.size(); ++i) {
            bool was = b && filters[i].matches(*b), is = a && filters[i].matches(*a);
            if (!b && is) want.push_back({i, change_kind::created});
            else if (!a && was) want.push_back({i, change_kind::deleted});
            else if (a && b && was && is) want.push_back({i, change_kind::updated});
            else if (a && b && is) want.push_back({i, change_kind::entered});
            else if (a && b && was) want.push_back({i, change_kind::left});
        }
        if (got.size() != want.size()) {
            std::set<subscription_id> g;
            for (auto& m : got) g.insert(m.id);
            for (auto& w : want) {
                if (!g.count(w.first)) {
                    ADD_FAILURE() << "missed " << queries[w.first] << " kind " << int(w.second) << " before "
                                  << (b ? boost::json::serialize(*b) : "-") << " after " << (a ? boost::json::serialize(*a) : "-");
                    break;
                }
            }
        }
        ASSERT_EQ(got.size(), want.size()) << "round " << round;
        for (std::size_t i = 0; i < got.size(); ++i) {
            EXPECT_EQ(got[i].id, want[i].first);
            EXPECT_EQ(got[i].kind, want[i].second);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Seeds, SubscriptionIndexAgrees, ::testing::Values(7u, 11u, 23u, 42u));

}  // namespace
