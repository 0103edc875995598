// `find` pushes filter conditions into SQL and keeps only offset+limit documents while sorting:
// its answers must be exactly those of evaluating the filter on every document and sorting them all.
#include <sluice/core/json_io.hpp>
#include <sluice/json/path.hpp>
#include <sluice/json/value.hpp>
#include <sluice/store/store.hpp>

#include "../temp_file.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace {

namespace bj = boost::json;

bj::value random_value(std::mt19937& rng) {
    switch (rng() % 11) {
        case 9: return bj::value(std::int64_t(9007199254740993));  // beyond 2^53: exact in SQL, not as a double
        case 10: return bj::value(9007199254740992.0);
        case 0: return bj::value(static_cast<std::int64_t>(rng() % 5));
        case 1: return bj::value(static_cast<double>(rng() % 5) + 0.5);
        case 2: return bj::value(std::string(1, static_cast<char>('a' + rng() % 3)));
        case 3: return bj::value(rng() % 2 == 0);
        case 4: return bj::value(nullptr);
        case 5: return bj::array{static_cast<std::int64_t>(rng() % 5), std::string("b")};
        case 6: return bj::object{{"x", static_cast<std::int64_t>(rng() % 3)}};
        case 7: return bj::value(std::to_string(rng() % 5));  // "3": a string, not a number
        default: return bj::value(static_cast<std::int64_t>(rng() % 3));
    }
}

TEST(FindPushdown, AnswersExactlyWhatTheFilterAndAFullSortWould) {
    sluice::testing::temp_database db{"sluice_find_"};
    auto store = sluice::store::open_sqlite(db.path());
    std::mt19937 rng(7);
    std::vector<sluice::store::write_request> batch;
    for (int i = 0; i < 400; ++i) {
        sluice::store::write_request r;
        r.op = "op" + std::to_string(i);
        r.app = "a";
        r.model = "m";
        r.id = "d" + std::to_string(i);
        r.actor = "u";
        r.ts = 1;
        for (const char* field : {"n", "s", "t"}) {
            if (rng() % 6) r.body[field] = random_value(rng);
        }
        batch.push_back(std::move(r));
    }
    store->apply_batch(batch);
    sluice::store::find_options all;
    all.limit = 100000;
    auto everything = store->find("a", "m", all);
    ASSERT_EQ(everything.size(), 400u);

    const char* filters[] = {
        R"({"n": 3})",           R"({"n": {"$in": [1, "b", true]}})", R"({"n": {"$gt": 1, "$lte": 3.5}})",
        R"({"s": "a"})",         R"({"s": true})",                    R"({"n": {"$gte": 2}, "s": {"$in": ["a", "c"]}})",
        R"({"t": {"$lt": 2}})",  R"({"t.x": 1})",                     R"({"n": "3"})",
        R"({"n": null})",        R"({"$or": [{"n": 1}, {"s": "b"}]})", R"({"n": {"$ne": 2}})",
        R"({"n": {"$lte": 9007199254740993}})", R"({"n": 9007199254740992})", R"({"s": {"$gt": 9007199254740991}})",
    };
    for (const char* text : filters) {
        auto filter = sluice::json::filter::compile(text);
        std::vector<bj::object> expected;
        for (const auto& d : everything) {
            if (filter.matches(bj::value(d))) expected.push_back(d);
        }
        sluice::store::find_options o;
        o.filter = &filter;
        o.limit = 100000;
        EXPECT_EQ(store->find("a", "m", o), expected) << text;
        // Sorted, one page: the same as sorting all matches and slicing.
        o.sort = {{"n", -1}, {"s", 1}};
        o.offset = 3;
        o.limit = 7;
        auto value_at = [](const bj::object& doc, const char* field) {
            const bj::value* found = nullptr;
            bj::value root(doc);
            sluice::json::field_path p(field);
            sluice::json::any_value(&root, p.segments(), [&](const bj::value* v) {
                found = v;
                return true;
            });
            return found ? *found : bj::value(nullptr);
        };
        std::stable_sort(expected.begin(), expected.end(), [&](const bj::object& a, const bj::object& b) {
            int c = sluice::json::compare(value_at(a, "n"), value_at(b, "n"));
            if (c != 0) return c > 0;
            return sluice::json::compare(value_at(a, "s"), value_at(b, "s")) < 0;
        });
        std::vector<bj::object> page(expected.begin() + std::min<std::ptrdiff_t>(3, static_cast<std::ptrdiff_t>(expected.size())),
                                     expected.begin() + std::min<std::ptrdiff_t>(10, static_cast<std::ptrdiff_t>(expected.size())));
        EXPECT_EQ(store->find("a", "m", o), page) << text << " sorted";
    }
}

}  // namespace
