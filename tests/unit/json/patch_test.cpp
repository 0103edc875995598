#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/json/patch.hpp>
#include <sluice/json/value.hpp>

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

namespace {

using sluice::json::patch;
using sluice::json::patch_error;
namespace bj = boost::json;

std::string apply(std::string_view p, std::string_view doc) {
    return bj::serialize(patch::parse(p).applied_to(sluice::parse_json(doc)));
}

TEST(Patch, Rfc6902Operations) {
    EXPECT_EQ(apply(R"([{"op":"add","path":"/b","value":2}])", R"({"a":1})"), R"({"a":1,"b":2})");
    EXPECT_EQ(apply(R"([{"op":"add","path":"/a/-","value":3}])", R"({"a":[1,2]})"), R"({"a":[1,2,3]})");
    EXPECT_EQ(apply(R"([{"op":"add","path":"/a/0","value":0}])", R"({"a":[1]})"), R"({"a":[0,1]})");
    EXPECT_EQ(apply(R"([{"op":"remove","path":"/a/0"}])", R"({"a":[1,2]})"), R"({"a":[2]})");
    EXPECT_EQ(apply(R"([{"op":"replace","path":"/a","value":"x"}])", R"({"a":1})"), R"({"a":"x"})");
    EXPECT_EQ(apply(R"([{"op":"move","from":"/a","path":"/b"}])", R"({"a":1})"), R"({"b":1})");
    EXPECT_EQ(apply(R"([{"op":"copy","from":"/a","path":"/b"}])", R"({"a":[1]})"), R"({"a":[1],"b":[1]})");
    EXPECT_EQ(apply(R"([{"op":"test","path":"/a","value":1.0}])", R"({"a":1})"), R"({"a":1})");
    EXPECT_EQ(apply(R"([{"op":"add","path":"/a~1b/c~0d","value":1}])", R"({"a/b":{}})"), R"({"a/b":{"c~d":1}})");
    EXPECT_EQ(apply(R"([{"op":"replace","path":"","value":[1]}])", R"({"a":1})"), R"([1])");
}

TEST(Patch, SeedFormatIsNormalised) {
    EXPECT_EQ(apply(R"({"op":"replace","path":["status"],"value":["completed"]})", R"({"status":"todo"})"),
              R"({"status":"completed"})");
    EXPECT_EQ(apply(R"([{"op":"replace","path":["a.b","c"],"value":[1,2]}])", R"({"a":{}})"), R"({"a":{"b":1},"c":2})");
    EXPECT_EQ(apply(R"([{"op":"incr","path":["n"],"value":[2]}])", R"({"n":1})"), R"({"n":3})");
    EXPECT_EQ(apply(R"([{"op":"incr","path":["n"]}])", R"({})"), R"({"n":1})");
    EXPECT_EQ(apply(R"([{"op":"decr","path":["n"],"value":[0.5]}])", R"({"n":1})"), R"({"n":5E-1})");
    EXPECT_EQ(apply(R"([{"op":"append","path":["tags"],"value":["x"]}])", R"({"tags":["a"]})"), R"({"tags":["a","x"]})");
    EXPECT_EQ(apply(R"([{"op":"prepend","path":["tags"],"value":["x"]}])", R"({"tags":["a"]})"), R"({"tags":["x","a"]})");
    EXPECT_EQ(apply(R"([{"op":"append","path":["s"],"value":["!"]}])", R"({"s":"hi"})"), R"({"s":"hi!"})");
    EXPECT_EQ(apply(R"([{"op":"prepend","path":["s"],"value":[">"]}])", R"({"s":"hi"})"), R"({"s":">hi"})");
    EXPECT_EQ(apply(R"([{"op":"append","path":["list"],"value":[[1,2]]}])", R"({})"), R"({"list":[[1,2]]})");
    EXPECT_EQ(apply(R"([{"op":"append","path":["a.0"],"value":[9]}])", R"({"a":[[1]]})"), R"({"a":[[1,9]]})");
    auto ops = patch::parse(R"([{"op":"decr","path":["n"],"value":[3]}])").to_json();
    EXPECT_EQ(bj::serialize(ops), R"([{"op":"incr","path":"/n","value":-3}])");
}

TEST(Patch, NormalisedFormParsesBackToTheSamePatch) {
    auto p = patch::parse(R"([{"op":"incr","path":["a.b"],"value":[2]},{"op":"replace","path":["c"],"value":[1]},
                              {"op":"append","path":["t"],"value":["x"]},{"op":"add","path":"/d","value":0}])");
    auto again = patch::parse(bj::value(p.to_json()));
    EXPECT_EQ(bj::serialize(again.to_json()), bj::serialize(p.to_json()));
    auto doc = sluice::parse_json(R"({"a":{"b":1},"t":[]})");
    EXPECT_EQ(bj::serialize(again.applied_to(doc)), bj::serialize(p.applied_to(doc)));
    EXPECT_EQ(bj::serialize(again.applied_to(doc)), R"({"a":{"b":3},"t":["x"],"c":1,"d":0})");
}

TEST(Patch, IncrementOverflowBecomesDouble) {
    EXPECT_EQ(apply(R"([{"op":"incr","path":["n"],"value":[1]}])", R"({"n":9223372036854775807})"),
              R"({"n":9.223372036854776E18})");
}

std::size_t failing_index(std::string_view p, std::string_view doc) {
    try {
        patch::parse(p).applied_to(sluice::parse_json(doc));
    } catch (const patch_error& e) {
        return e.index();
    }
    return 999;
}

TEST(Patch, FailuresNameTheOperationAndLeaveTheDocumentAlone) {
    EXPECT_EQ(failing_index(R"([{"op":"add","path":"/a","value":1},{"op":"test","path":"/a","value":2}])", "{}"), 1u);
    EXPECT_EQ(failing_index(R"([{"op":"remove","path":"/x"}])", "{}"), 0u);
    EXPECT_EQ(failing_index(R"([{"op":"add","path":"/a","value":1},{"op":"replace","path":"/b/c","value":1}])", "{}"), 1u);
    EXPECT_EQ(failing_index(R"([{"op":"add","path":"/a/5","value":1}])", R"({"a":[]})"), 0u);
    EXPECT_EQ(failing_index(R"([{"op":"add","path":"/a/01","value":1}])", R"({"a":[1,2]})"), 0u);
    EXPECT_EQ(failing_index(R"([{"op":"move","from":"/a","path":"/a/b"}])", R"({"a":{}})"), 0u);
    EXPECT_EQ(failing_index(R"([{"op":"incr","path":["s"]}])", R"({"s":"x"})"), 0u);
    EXPECT_EQ(failing_index(R"([{"op":"append","path":["n"],"value":[1]}])", R"({"n":1})"), 0u);

    bj::value doc = sluice::parse_json(R"({"a":1})");
    auto p = patch::parse(R"([{"op":"replace","path":"/a","value":2},{"op":"test","path":"/a","value":3}])");
    EXPECT_THROW(p.apply(doc), patch_error);
    EXPECT_EQ(bj::serialize(doc), R"({"a":1})");
    try {
        p.apply(doc);
    } catch (const patch_error& e) {
        EXPECT_NE(std::string(e.what()).find("operation 1"), std::string::npos) << e.what();
        EXPECT_EQ(e.code(), "patch_failed");
    }
}

TEST(Patch, MalformedPatchesAreRejectedAtParse) {
    for (const char* bad : {R"(5)", R"([1])", R"([{"path":"/a"}])", R"([{"op":"jump","path":"/a"}])",
                            R"([{"op":"add","path":"/a"}])", R"([{"op":"add","path":"a","value":1}])",
                            R"([{"op":"move","path":"/a"}])", R"([{"op":"add","path":"/~2","value":1}])",
                            R"([{"op":"incr","path":["n"],"value":["x"]}])",
                            R"([{"op":"replace","path":["a","b"],"value":[1]}])", R"([{"op":"append","path":[]}])"}) {
        EXPECT_THROW(patch::parse(bad), sluice::invalid_input) << bad;
    }
    try {
        patch::parse(R"([{"op":"add","path":"/a","value":1},{"op":"jump","path":"/a"}])");
    } catch (const sluice::invalid_input& e) {
        EXPECT_NE(std::string(e.what()).find("operation 1"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("jump"), std::string::npos) << e.what();
        EXPECT_EQ(e.code(), "invalid_patch");
    }
}

}  // namespace
