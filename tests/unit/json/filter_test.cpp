#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/json/filter.hpp>

#include <gtest/gtest.h>

namespace {

using sluice::json::filter;

bool matches(std::string_view query, std::string_view doc) {
    return filter::compile(query).matches(sluice::parse_json(doc));
}

std::string compile_error(std::string_view query) {
    try {
        filter::compile(query);
    } catch (const sluice::invalid_input& e) {
        return e.what();
    }
    return "(compiled)";
}

TEST(Filter, EmptyQueryMatchesEverything) {
    EXPECT_TRUE(matches("{}", R"({"a":1})"));
    EXPECT_TRUE(matches("{}", "{}"));
}

TEST(Filter, ImplicitEqualityAndArrays) {
    EXPECT_TRUE(matches(R"({"a":1})", R"({"a":1})"));
    EXPECT_TRUE(matches(R"({"a":1})", R"({"a":1.0})"));
    EXPECT_FALSE(matches(R"({"a":1})", R"({"a":"1"})"));
    EXPECT_TRUE(matches(R"({"tags":"x"})", R"({"tags":["x","y"]})"));
    EXPECT_FALSE(matches(R"({"tags":"z"})", R"({"tags":["x","y"]})"));
    // whole-array equality, and an array element that is itself the array
    EXPECT_TRUE(matches(R"({"tags":["x","y"]})", R"({"tags":["x","y"]})"));
    EXPECT_FALSE(matches(R"({"tags":["y","x"]})", R"({"tags":["x","y"]})"));
    EXPECT_TRUE(matches(R"({"a":[1]})", R"({"a":[[1],2]})"));
    // objects are unordered
    EXPECT_TRUE(matches(R"({"o":{"x":1,"y":2}})", R"({"o":{"y":2,"x":1}})"));
    EXPECT_FALSE(matches(R"({"o":{"x":1}})", R"({"o":{"x":1,"y":2}})"));
}

TEST(Filter, DottedPaths) {
    EXPECT_TRUE(matches(R"({"a.b":1})", R"({"a":{"b":1}})"));
    EXPECT_TRUE(matches(R"({"a.b":1})", R"({"a":[{"b":2},{"b":1}]})"));
    EXPECT_TRUE(matches(R"({"a.0.b":1})", R"({"a":[{"b":1},{"b":2}]})"));
    EXPECT_FALSE(matches(R"({"a.1.b":1})", R"({"a":[{"b":1},{"b":2}]})"));
    EXPECT_TRUE(matches(R"({"a.1":5})", R"({"a":[4,5]})"));
    EXPECT_TRUE(matches(R"({"a.b.c":3})", R"({"a":[{"b":[{"c":3}]}]})"));
    EXPECT_FALSE(matches(R"({"a.b":1})", R"({"a":5})"));
}

TEST(Filter, NullMatchesMissing) {
    EXPECT_TRUE(matches(R"({"a":null})", R"({})"));
    EXPECT_TRUE(matches(R"({"a":null})", R"({"a":null})"));
    EXPECT_FALSE(matches(R"({"a":null})", R"({"a":0})"));
    EXPECT_TRUE(matches(R"({"a.b":null})", R"({"a":[{"b":1},{"c":1}]})"));
    EXPECT_TRUE(matches(R"({"a":{"$in":[null,5]}})", R"({})"));
    EXPECT_TRUE(matches(R"({"a":{"$gte":null}})", R"({})"));
    EXPECT_FALSE(matches(R"({"a":{"$gt":null}})", R"({})"));
}

TEST(Filter, NeAndNinMeanNoElementEquals) {
    EXPECT_TRUE(matches(R"({"a":{"$ne":1}})", R"({"a":2})"));
    EXPECT_TRUE(matches(R"({"a":{"$ne":1}})", R"({})"));
    EXPECT_FALSE(matches(R"({"a":{"$ne":1}})", R"({"a":[2,1]})"));
    EXPECT_TRUE(matches(R"({"a":{"$nin":[1,3]}})", R"({"a":[2,4]})"));
    EXPECT_FALSE(matches(R"({"a":{"$nin":[1,3]}})", R"({"a":[2,3]})"));
    EXPECT_FALSE(matches(R"({"a":{"$ne":null}})", R"({})"));
}

TEST(Filter, ComparisonsStayInTheirTypeBracket) {
    EXPECT_TRUE(matches(R"({"a":{"$gt":1}})", R"({"a":1.5})"));
    EXPECT_FALSE(matches(R"({"a":{"$gt":1}})", R"({"a":"2"})"));
    EXPECT_FALSE(matches(R"({"a":{"$lt":"b"}})", R"({"a":1})"));
    EXPECT_TRUE(matches(R"({"a":{"$lt":"b"}})", R"({"a":"a"})"));
    EXPECT_TRUE(matches(R"({"a":{"$gte":2,"$lte":3}})", R"({"a":[1,2.5]})"));
    EXPECT_TRUE(matches(R"({"a":{"$gt":5,"$lt":3}})", R"({"a":[1,6]})"));  // different elements may satisfy each
    EXPECT_FALSE(matches(R"({"a":{"$gt":true}})", R"({"a":1})"));
    EXPECT_TRUE(matches(R"({"a":{"$gt":false}})", R"({"a":true})"));
    EXPECT_TRUE(matches(R"({"n":{"$lt":9223372036854775807}})", R"({"n":9223372036854775806})"));
}

TEST(Filter, ExistsTypeSize) {
    EXPECT_TRUE(matches(R"({"a":{"$exists":true}})", R"({"a":null})"));
    EXPECT_FALSE(matches(R"({"a":{"$exists":true}})", R"({})"));
    EXPECT_TRUE(matches(R"({"a":{"$exists":false}})", R"({})"));
    EXPECT_TRUE(matches(R"({"a.b":{"$exists":true}})", R"({"a":[{"c":1},{"b":2}]})"));
    EXPECT_TRUE(matches(R"({"a":{"$type":"string"}})", R"({"a":"x"})"));
    EXPECT_TRUE(matches(R"({"a":{"$type":2}})", R"({"a":"x"})"));
    EXPECT_TRUE(matches(R"({"a":{"$type":"number"}})", R"({"a":1.5})"));
    EXPECT_TRUE(matches(R"({"a":{"$type":"int"}})", R"({"a":7})"));
    EXPECT_TRUE(matches(R"({"a":{"$type":"long"}})", R"({"a":7000000000})"));
    EXPECT_TRUE(matches(R"({"a":{"$type":"double"}})", R"({"a":7.5})"));
    EXPECT_TRUE(matches(R"({"a":{"$type":"array"}})", R"({"a":[]})"));
    EXPECT_TRUE(matches(R"({"a":{"$type":["bool","null"]}})", R"({"a":null})"));
    EXPECT_TRUE(matches(R"({"a":{"$type":"string"}})", R"({"a":[1,"x"]})"));
    EXPECT_FALSE(matches(R"({"a":{"$type":"null"}})", R"({})"));
    EXPECT_TRUE(matches(R"({"a":{"$size":2}})", R"({"a":[1,2]})"));
    EXPECT_FALSE(matches(R"({"a":{"$size":2}})", R"({"a":[1]})"));
    EXPECT_FALSE(matches(R"({"a":{"$size":0}})", R"({})"));
}

TEST(Filter, AllAndElemMatch) {
    EXPECT_TRUE(matches(R"({"a":{"$all":[1,2]}})", R"({"a":[2,3,1]})"));
    EXPECT_FALSE(matches(R"({"a":{"$all":[1,4]}})", R"({"a":[2,3,1]})"));
    EXPECT_FALSE(matches(R"({"a":{"$all":[]}})", R"({"a":[1]})"));
    EXPECT_TRUE(matches(R"({"a":{"$all":[1]}})", R"({"a":1})"));
    EXPECT_TRUE(matches(R"({"a":{"$elemMatch":{"$gt":2,"$lt":4}}})", R"({"a":[1,3,5]})"));
    EXPECT_FALSE(matches(R"({"a":{"$elemMatch":{"$gt":3,"$lt":4}}})", R"({"a":[1,3,5]})"));
    EXPECT_TRUE(matches(R"({"a":{"$elemMatch":{"x":1,"y":{"$gt":1}}}})", R"({"a":[{"x":1,"y":1},{"x":1,"y":2}]})"));
    EXPECT_FALSE(matches(R"({"a":{"$elemMatch":{"x":1,"y":{"$gt":1}}}})", R"({"a":[{"x":1,"y":1},{"x":2,"y":2}]})"));
    EXPECT_FALSE(matches(R"({"a":{"$elemMatch":{"$gt":0}}})", R"({"a":5})"));
    EXPECT_TRUE(matches(R"({"a":{"$all":[{"$elemMatch":{"x":1}},{"$elemMatch":{"x":2}}]}})",
                        R"({"a":[{"x":1},{"x":2}]})"));
}

TEST(Filter, RegexModNot) {
    EXPECT_TRUE(matches(R"({"s":{"$regex":"^ab"}})", R"({"s":"abc"})"));
    EXPECT_FALSE(matches(R"({"s":{"$regex":"^ab"}})", R"({"s":"cab"})"));
    EXPECT_TRUE(matches(R"({"s":{"$regex":"^AB","$options":"i"}})", R"({"s":"abc"})"));
    EXPECT_TRUE(matches(R"({"s":{"$regex":"^b","$options":"m"}})", R"({"s":"a\nb"})"));
    EXPECT_TRUE(matches(R"({"s":{"$regex":"a.b","$options":"s"}})", R"({"s":"a\nb"})"));
    EXPECT_TRUE(matches(R"({"s":{"$regex":"a b # comment","$options":"x"}})", R"({"s":"ab"})"));
    EXPECT_TRUE(matches(R"({"s":{"$regex":"x"}})", R"({"s":["a","xy"]})"));
    EXPECT_FALSE(matches(R"({"s":{"$regex":"1"}})", R"({"s":1})"));
    EXPECT_TRUE(matches(R"({"s":{"$in":[{"$regex":"^q"}, 3]}})", R"({"s":"qq"})"));
    EXPECT_TRUE(matches(R"({"n":{"$mod":[4,1]}})", R"({"n":9})"));
    EXPECT_TRUE(matches(R"({"n":{"$mod":[4,-1]}})", R"({"n":-9})"));
    EXPECT_TRUE(matches(R"({"n":{"$mod":[4,1]}})", R"({"n":9.7})"));
    EXPECT_FALSE(matches(R"({"n":{"$mod":[4,1]}})", R"({"n":"9"})"));
    EXPECT_TRUE(matches(R"({"n":{"$not":{"$gt":5}}})", R"({"n":3})"));
    EXPECT_TRUE(matches(R"({"n":{"$not":{"$gt":5}}})", R"({})"));
    EXPECT_FALSE(matches(R"({"n":{"$not":{"$gt":5}}})", R"({"n":[1,7]})"));
    EXPECT_TRUE(matches(R"({"s":{"$not":{"$regex":"^a"}}})", R"({"s":"ba"})"));
}

TEST(Filter, LogicalOperators) {
    EXPECT_TRUE(matches(R"({"$and":[{"a":1},{"b":2}]})", R"({"a":1,"b":2})"));
    EXPECT_FALSE(matches(R"({"$and":[{"a":1},{"b":2}]})", R"({"a":1,"b":3})"));
    EXPECT_TRUE(matches(R"({"$or":[{"a":1},{"b":2}]})", R"({"a":0,"b":2})"));
    EXPECT_FALSE(matches(R"({"$or":[{"a":1},{"b":2}]})", R"({"a":0,"b":0})"));
    EXPECT_TRUE(matches(R"({"$nor":[{"a":1},{"b":2}]})", R"({"a":0,"b":0})"));
    EXPECT_FALSE(matches(R"({"$nor":[{"a":1},{"b":2}]})", R"({"a":1})"));
    EXPECT_TRUE(matches(R"({"a":1,"$or":[{"b":1},{"c":1}]})", R"({"a":1,"c":1})"));
}

TEST(Filter, SeedAliases) {
    EXPECT_TRUE(matches(R"({"priority":{"in":["high","urgent"]}})", R"({"priority":"high"})"));
    EXPECT_FALSE(matches(R"({"priority":{"in":["high"]}})", R"({"priority":"low"})"));
    EXPECT_TRUE(matches(R"({"n":{"gt":1,"lte":3}})", R"({"n":3})"));
    EXPECT_TRUE(matches(R"({"n":{"ne":1}})", R"({"n":2})"));
    // an object with other keys is a literal for equality
    EXPECT_TRUE(matches(R"({"o":{"gt":1,"x":2}})", R"({"o":{"x":2,"gt":1}})"));
}

TEST(Filter, ErrorsNameTheOffendingPart) {
    EXPECT_NE(compile_error(R"({"a":{"$foo":1}})").find("$foo"), std::string::npos);
    EXPECT_NE(compile_error(R"({"a":{"$foo":1}})").find("'a'"), std::string::npos);
    EXPECT_NE(compile_error(R"({"$where":"x"})").find("$where"), std::string::npos);
    EXPECT_NE(compile_error(R"({"a":{"$in":1}})").find("$in"), std::string::npos);
    EXPECT_NE(compile_error(R"({"a":{"$nin":{}}})").find("$nin"), std::string::npos);
    EXPECT_NE(compile_error(R"({"a":{"$mod":[1]}})").find("$mod"), std::string::npos);
    EXPECT_NE(compile_error(R"({"a":{"$mod":[0,1]}})").find("divisor"), std::string::npos);
    EXPECT_NE(compile_error(R"({"a":{"$size":-1}})").find("$size"), std::string::npos);
    EXPECT_NE(compile_error(R"({"a":{"$size":1.5}})").find("$size"), std::string::npos);
    EXPECT_NE(compile_error(R"({"a":{"$size":"2"}})").find("$size"), std::string::npos);
    EXPECT_NE(compile_error(R"({"$and":[]})").find("$and"), std::string::npos);
    EXPECT_NE(compile_error(R"({"$or":{}})").find("$or"), std::string::npos);
    EXPECT_NE(compile_error(R"({"a":{"$type":"strin"}})").find("strin"), std::string::npos);
    EXPECT_NE(compile_error(R"({"a":{"$regex":"(a"}})").find("missing )"), std::string::npos);
    EXPECT_NE(compile_error(R"({"a":{"$regex":"a","$options":"q"}})").find("'q'"), std::string::npos);
    EXPECT_NE(compile_error(R"({"a":{"$options":"i"}})").find("$regex"), std::string::npos);
    EXPECT_NE(compile_error(R"({"a":{"$not":5}})").find("$not"), std::string::npos);
    EXPECT_NE(compile_error(R"({"a":{"$elemMatch":3}})").find("$elemMatch"), std::string::npos);
    EXPECT_NE(compile_error(R"({"a":{"$exists":"yes"}})").find("$exists"), std::string::npos);
    EXPECT_NE(compile_error(R"({"a..b":1})").find("empty segment"), std::string::npos);
    EXPECT_NE(compile_error(R"([1])").find("object"), std::string::npos);
    EXPECT_NE(compile_error(R"({"a":)").find("offset"), std::string::npos);
}

TEST(Filter, ConstraintsDescribeTopLevelConditions) {
    auto f = filter::compile(R"({"status":"open","n":{"$gt":3,"$lte":9},"$or":[{"x":1},{"y":2}],"t":{"$in":["a","b"]}})");
    ASSERT_EQ(f.constraints().size(), 3u);
    EXPECT_EQ(f.constraints()[0].path->text(), "status");
    EXPECT_EQ(f.constraints()[1].type, sluice::json::field_constraint::kind::range);
    EXPECT_EQ(f.constraints()[1].low, 3);
    EXPECT_EQ(f.constraints()[1].high, 9);
    EXPECT_EQ(f.constraints()[2].values.size(), 2u);
    EXPECT_TRUE(filter::compile(R"({"$or":[{"x":1},{"y":2}]})").constraints().empty());
}

}  // namespace
