#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <random>
#include <sluice/json/diff.hpp>
#include <sluice/json/patch.hpp>
#include <sluice/json/value.hpp>

namespace {

namespace bj = boost::json;
using sluice::json::diff;

bj::value parse(const char* text) { return bj::parse(text); }

TEST(Diff, EqualDocumentsGiveAnEmptyPatch) {
    EXPECT_TRUE(diff(parse(R"({"a":1,"b":[1,{"c":2}]})"), parse(R"({"b":[1,{"c":2.0}],"a":1})")).empty());
}

TEST(Diff, ADeepEditIsOneSmallOperation) {
    auto d = diff(parse(R"({"title":"a","tags":["x","y"],"meta":{"n":1,"k":"v"}})"),
                  parse(R"({"title":"a","tags":["x","y"],"meta":{"n":2,"k":"v"},"new":true})"));
    EXPECT_EQ(bj::serialize(d), R"([{"op":"replace","path":"/meta/n","value":2},{"op":"add","path":"/new","value":true}])");
}

TEST(Diff, RemovedMembersAndShorterArrays) {
    auto d = diff(parse(R"({"gone":1,"list":[1,2,3,4]})"), parse(R"({"list":[1,9]})"));
    EXPECT_EQ(bj::serialize(d),
              R"([{"op":"remove","path":"/gone"},{"op":"replace","path":"/list/1","value":9},)"
              R"({"op":"remove","path":"/list/3"},{"op":"remove","path":"/list/2"}])");
}

TEST(Diff, KeysThatNeedEscapingAndTypeChanges) {
    auto d = diff(parse(R"({"a/b":{"x":1},"t~":[1]})"), parse(R"({"a/b":[1],"t~":"s"})"));
    EXPECT_EQ(bj::serialize(d),
              R"([{"op":"replace","path":"/a~1b","value":[1]},{"op":"replace","path":"/t~0","value":"s"}])");
}

/// A random JSON value of bounded depth over a small alphabet, so that two of them share parts.
bj::value random_value(std::mt19937& rng, int depth) {
    std::uniform_int_distribution<int> kind(0, depth > 0 ? 6 : 3);
    switch (kind(rng)) {
        case 0: return nullptr;
        case 1: return std::uniform_int_distribution<int>(0, 3)(rng);
        case 2: return std::uniform_int_distribution<int>(0, 1)(rng) == 1;
        case 3: return bj::string(std::string(1, static_cast<char>('a' + std::uniform_int_distribution<int>(0, 2)(rng))));
        case 4:
        case 5: {
            bj::object o;
            for (int i = std::uniform_int_distribution<int>(0, 4)(rng); i > 0; --i) {
                static const char* keys[] = {"a", "b", "c/d", "e~f", ""};
                o[keys[std::uniform_int_distribution<int>(0, 4)(rng)]] = random_value(rng, depth - 1);
            }
            return o;
        }
        default: {
            bj::array a;
            for (int i = std::uniform_int_distribution<int>(0, 4)(rng); i > 0; --i) a.push_back(random_value(rng, depth - 1));
            return a;
        }
    }
}

TEST(Diff, ApplyingTheDiffGivesTheTarget) {
    std::mt19937 rng(20261124);
    for (int i = 0; i < 5000; ++i) {
        auto from = random_value(rng, 3);
        auto to = random_value(rng, 3);
        auto patch = diff(from, to);
        auto result = sluice::json::patch::parse(bj::value(patch)).applied_to(from);
        ASSERT_TRUE(sluice::json::equal(result, to))
            << bj::serialize(from) << " -> " << bj::serialize(to) << " via " << bj::serialize(patch) << " gave " << bj::serialize(result);
        ASSERT_TRUE(diff(from, from).empty());
    }
}

}  // namespace
