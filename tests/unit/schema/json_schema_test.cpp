#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <filesystem>
#include <fstream>
#include <sluice/schema/json_schema.hpp>

namespace {

namespace bj = boost::json;
using sluice::schema::json_schema;

const char* task_schema = R"({
  "type": "object",
  "required": ["title"],
  "properties": {
    "title": {"type": "string", "minLength": 1},
    "tags": {"type": "array", "items": {"type": "string"}},
    "meta": {"type": "object", "properties": {"a/b": {"type": "integer"}}}
  },
  "additionalProperties": false
})";

TEST(JsonSchema, NamesThePointerAndTheRuleOfTheDeepestFailure) {
    auto s = json_schema::compile(bj::parse(task_schema));
    EXPECT_FALSE(s.validate(bj::parse(R"({"title":"x","tags":["a"],"meta":{"a/b":1}})")));
    auto v = s.validate(bj::parse(R"({"title":"x","tags":["a",7]})"));
    ASSERT_TRUE(v);
    EXPECT_EQ(v->pointer, "/tags/1");
    EXPECT_EQ(v->keyword, "type");
    v = s.validate(bj::parse(R"({"title":"x","meta":{"a/b":"no"}})"));
    ASSERT_TRUE(v);
    EXPECT_EQ(v->pointer, "/meta/a~1b");
    v = s.validate(bj::parse(R"({"tags":[]})"));
    ASSERT_TRUE(v);
    EXPECT_EQ(v->pointer, "");
    EXPECT_EQ(v->keyword, "required");
    EXPECT_NE(v->rule.find("title"), std::string::npos) << v->rule;
    EXPECT_EQ(v->to_string().rfind("(the document): ", 0), 0u) << v->to_string();
}

TEST(JsonSchema, NamesTheKeywordOfEachRule) {
    struct example {
        const char* schema;
        const char* document;
        const char* keyword;
    };
    for (const auto& e : std::initializer_list<example>{
             {R"({"maximum": 10})", "11", "maximum"},
             {R"({"exclusiveMaximum": 10})", "10", "exclusiveMaximum"},
             {R"({"minimum": 1})", "0", "minimum"},
             {R"({"maxLength": 1})", R"("ab")", "maxLength"},
             {R"({"minItems": 1})", "[]", "minItems"},
             {R"({"pattern": "^a"})", R"("b")", "pattern"},
             {R"({"enum": [1, 2]})", "3", "enum"},
             {R"({"const": 1})", "2", "const"},
             {R"({"multipleOf": 2})", "3", "multipleOf"},
             {R"({"uniqueItems": true})", "[1, 1]", "uniqueItems"},
             {R"({"not": {"type": "string"}})", R"("s")", "not"},
             {R"({"oneOf": [{"type": "string"}, {"type": "number"}]})", "true", "oneOf"},
             {R"({"anyOf": [{"type": "string"}, {"type": "number"}]})", "true", "anyOf"},
         }) {
        auto v = json_schema::compile(bj::parse(e.schema)).validate(bj::parse(e.document));
        ASSERT_TRUE(v) << e.schema;
        EXPECT_EQ(v->keyword, e.keyword) << e.schema << ": " << v->rule;
    }
    auto v = json_schema::compile(bj::parse(R"({"maximum": 10})")).validate(bj::parse("11"));
    EXPECT_EQ(v->to_string(), "(the document): 'maximum': Expected number less than or equal to 10");
}

TEST(JsonSchema, CheckThrowsASchemaViolation) {
    auto s = json_schema::compile(bj::parse(task_schema));
    try {
        s.check(bj::parse(R"({"title":""})"), "document 't1'");
        FAIL() << "no violation";
    } catch (const sluice::error& e) {
        EXPECT_EQ(e.kind(), sluice::errc::schema_violation);
        EXPECT_NE(std::string(e.what()).find("document 't1' does not match its schema at /title: "), std::string::npos) << e.what();
    }
}

TEST(JsonSchema, LoadsAFileAndTheFilesItRefersTo) {
    auto dir = std::filesystem::temp_directory_path() / ("sluice-schema-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir / "common");
    std::ofstream(dir / "common" / "name.json") << R"({"type":"string","pattern":"^[a-z]+$"})";
    std::ofstream(dir / "user.json") << R"({"type":"object","properties":{"name":{"$ref":"common/name.json"}}})";
    auto s = json_schema::load(dir / "user.json");
    EXPECT_FALSE(s.validate(bj::parse(R"({"name":"ada"})")));
    auto v = s.validate(bj::parse(R"({"name":"Ada"})"));
    ASSERT_TRUE(v);
    EXPECT_EQ(v->pointer, "/name");
    std::filesystem::remove_all(dir);
}

TEST(JsonSchema, ABadSchemaIsAConfigErrorNamingTheFile) {
    try {
        json_schema::load("/nonexistent/schema.json");
        FAIL();
    } catch (const sluice::error& e) {
        EXPECT_EQ(e.kind(), sluice::errc::config_error);
        EXPECT_NE(std::string(e.what()).find("/nonexistent/schema.json"), std::string::npos) << e.what();
    }
    EXPECT_THROW(json_schema::compile(bj::parse(R"({"type": 12})")), sluice::error);
    EXPECT_THROW(json_schema::compile(bj::parse(R"({"$ref": "https://example.com/elsewhere.json"})")), sluice::error);
}

}  // namespace
