// Runs the official JSON-Schema-Test-Suite (Debian json-schema-test-suite) for draft 7 against
// schema::json_schema: every required case (tests/draft7/*.json; not optional/) must give the
// expected verdict. `$ref`s to http://localhost:1234/ are the suite's remotes folder, as its
// README asks.
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <filesystem>
#include <fstream>
#include <sluice/core/json_io.hpp>
#include <sluice/schema/json_schema.hpp>
#include <sstream>

namespace {

namespace bj = boost::json;
namespace fs = std::filesystem;

const fs::path suite = JSON_SCHEMA_SUITE_DIR;

bj::value read(const fs::path& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) throw std::runtime_error("cannot read " + file.string() + " (run scripts/install-deps.sh)");
    return sluice::parse_json(text.str(), file.string());
}

std::optional<bj::value> remote(const std::string& uri) {
    const std::string prefix = "http://localhost:1234/";
    if (!uri.starts_with(prefix)) return std::nullopt;
    auto file = suite / "remotes" / uri.substr(prefix.size());
    if (!fs::exists(file)) return std::nullopt;
    return read(file);
}

class Draft7 : public ::testing::TestWithParam<std::string> {};

TEST_P(Draft7, EveryCaseGivesTheExpectedVerdict) {
    auto groups = read(suite / "tests" / "draft7" / (GetParam() + ".json")).as_array();
    ASSERT_FALSE(groups.empty());
    for (const auto& g : groups) {
        const auto& group = g.as_object();
        const std::string about = std::string(group.at("description").as_string());
        std::optional<sluice::schema::json_schema> schema;
        try {
            schema = sluice::schema::json_schema::compile(group.at("schema"), remote);
        } catch (const std::exception& e) {
            ADD_FAILURE() << about << ": the schema did not compile: " << e.what();
            continue;
        }
        for (const auto& t : group.at("tests").as_array()) {
            const auto& test = t.as_object();
            const bool expected = test.at("valid").as_bool();
            auto verdict = schema->validate(test.at("data"));
            EXPECT_EQ(!verdict.has_value(), expected)
                << GetParam() << ": " << about << " / " << test.at("description").as_string() << "\n  data "
                << bj::serialize(test.at("data")) << (verdict ? "\n  violation " + verdict->to_string() : std::string());
        }
    }
}

std::vector<std::string> required_files() {
    std::vector<std::string> out;
    for (const auto& entry : fs::directory_iterator(suite / "tests" / "draft7")) {
        if (entry.is_regular_file() && entry.path().extension() == ".json") out.push_back(entry.path().stem().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

INSTANTIATE_TEST_SUITE_P(JsonSchemaTestSuite, Draft7, ::testing::ValuesIn(required_files()),
                         [](const auto& info) {
                             std::string name = info.param;
                             for (auto& c : name) {
                                 if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                             }
                             return name;
                         });

}  // namespace
