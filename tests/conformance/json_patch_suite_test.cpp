// Runs the json-patch-test-suite (tests.json and spec_tests.json) against the patch engine: every
// case that is not disabled must give the expected document, or fail when an error is expected.
#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/json/patch.hpp>
#include <sluice/json/value.hpp>

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace {

namespace bj = boost::json;

bj::array load(const std::string& name) {
    std::ifstream in(std::string(JSON_PATCH_SUITE_DIR) + "/" + name);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) ADD_FAILURE() << "cannot read " << name << " (run scripts/install-deps.sh for the npm oracles)";
    return sluice::parse_json(text.str(), name).as_array();
}

void run_suite(const std::string& name) {
    auto cases = load(name);
    ASSERT_GT(cases.size(), 10u);
    int ran = 0;
    for (const auto& c : cases) {
        const auto& t = c.as_object();
        if (t.contains("disabled") && t.at("disabled").as_bool()) continue;
        std::string label = t.contains("comment") ? bj::serialize(t.at("comment")) : bj::serialize(c);
        ++ran;
        bool expect_error = t.contains("error");
        try {
            auto patch = sluice::json::patch::parse(t.at("patch"));
            auto result = patch.applied_to(t.at("doc"));
            EXPECT_FALSE(expect_error) << name << ": " << label << " should fail (" << t.at("error") << ")";
            if (t.contains("expected")) {
                EXPECT_TRUE(sluice::json::equal(result, t.at("expected")))
                    << name << ": " << label << "\n got " << bj::serialize(result);
            }
        } catch (const sluice::error& e) {
            EXPECT_TRUE(expect_error) << name << ": " << label << " failed: " << e.what();
        }
    }
    std::cout << name << ": " << ran << " cases\n";
}

TEST(JsonPatchSuite, Tests) { run_suite("tests.json"); }
TEST(JsonPatchSuite, SpecTests) { run_suite("spec_tests.json"); }

}  // namespace
