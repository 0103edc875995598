#include <gtest/gtest.h>

#include <sluice/core/json_io.hpp>
#include <sluice/json/canonical.hpp>

namespace {

using sluice::parse_json;
using sluice::json::canonical_json;

TEST(CanonicalJson, SortsKeysRecursivelyAndKeepsArrayOrder) {
    EXPECT_EQ(canonical_json(parse_json(R"( { "b" : [ 3, {"d":1, "c":2}, [] ], "a" : "x", "B": {} } )")),
              R"({"B":{},"a":"x","b":[3,{"c":2,"d":1},[]]})");
    EXPECT_EQ(canonical_json(parse_json(R"({"é":1,"z":2,"$or":3,"":4})")),
              "{\"\":4,\"$or\":3,\"z\":2,\"é\":1}");
    EXPECT_EQ(canonical_json(parse_json("[null,true,false]")), "[null,true,false]");
}

TEST(CanonicalJson, EscapesOnlyWhatJsonRequires) {
    EXPECT_EQ(canonical_json(parse_json(R"("q\"\\\/\b\f\n\r\t\u0001\u001f\u007f caf\u00e9")")),
              "\"q\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f caf\xc3\xa9\"");
}

TEST(CanonicalJson, WritesEqualNumbersAlike) {
    EXPECT_EQ(canonical_json(parse_json("[1, 1.0, -0.0, 10E2, -3]")), "[1,1,0,1000,-3]");
    EXPECT_EQ(canonical_json(parse_json("[0.5, 1e100, -2.5e-7, 18446744073709551615, -9223372036854775808]")),
              "[0.5,1e+100,-2.5e-07,18446744073709551615,-9223372036854775808]");
}

}  // namespace
