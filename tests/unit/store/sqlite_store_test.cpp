#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/store/store.hpp>

#include "../temp_file.hpp"

#include <gtest/gtest.h>

#include <filesystem>

namespace {

namespace fs = std::filesystem;
namespace bj = boost::json;
using sluice::store::write_request;

struct SqliteStore : ::testing::Test {
    sluice::testing::temp_database db{"sluice_store_"};
    std::unique_ptr<sluice::store::store> store = sluice::store::open_sqlite(db.path());
    static write_request create(std::string op, std::string id, const char* body) {
        write_request r;
        r.op = std::move(op);
        r.type = write_request::kind::create;
        r.app = "a";
        r.model = "m";
        r.id = std::move(id);
        r.actor = "alice";
        r.ts = 1000;
        r.body = sluice::parse_json(body).as_object();
        return r;
    }
    static write_request update(std::string op, std::string id, const char* patch) {
        auto r = create(std::move(op), std::move(id), "{}");
        r.type = write_request::kind::update;
        r.actor = "bob";
        r.patch = sluice::parse_json(patch).as_array();
        return r;
    }
};

TEST_F(SqliteStore, AppliesAndDescribesChanges) {
    auto c = store->apply(create("op1", "d1", R"({"n":1})"));
    EXPECT_FALSE(c.duplicate);
    EXPECT_EQ(c.envelope.at("event").as_string(), "model_created");
    EXPECT_TRUE(c.envelope.at("before").is_null());
    EXPECT_EQ(c.envelope.at("after").at("owner").as_string(), "alice");
    auto u = store->apply(update("op2", "d1", R"([{"op":"incr","path":"/n","value":2}])"));
    EXPECT_EQ(u.envelope.at("version").as_int64(), 2);
    EXPECT_EQ(u.envelope.at("owner").as_string(), "alice");  // the owner, not the actor
    EXPECT_EQ(u.envelope.at("actor").as_string(), "bob");
    EXPECT_EQ(u.envelope.at("before").at("n").as_int64(), 1);
    EXPECT_EQ(u.envelope.at("after").at("n").as_int64(), 3);
    EXPECT_EQ(store->get("a", "m", "d1")->at("n").as_int64(), 3);
}

TEST_F(SqliteStore, ReplayedOpsChangeNothingAndReturnTheSameEnvelope) {
    store->apply(create("op1", "d1", R"({"n":1})"));
    auto first = store->apply(update("op2", "d1", R"([{"op":"incr","path":"/n","value":1}])"));
    auto again = store->apply(update("op2", "d1", R"([{"op":"incr","path":"/n","value":1}])"));
    EXPECT_TRUE(again.duplicate);
    EXPECT_EQ(again.envelope, first.envelope);
    EXPECT_EQ(store->get("a", "m", "d1")->at("n").as_int64(), 2);
}

TEST_F(SqliteStore, FinalFailuresStayInTheirSlotOfTheBatch) {
    auto results = store->apply_batch({create("op1", "d1", "{}"), create("op2", "d1", "{}"),
                                       update("op3", "nope", "[]"),
                                       update("op4", "d1", R"([{"op":"test","path":"/x","value":1}])"),
                                       update("op5", "d1", R"([{"op":"add","path":"/x","value":1}])")});
    ASSERT_EQ(results.size(), 5u);
    EXPECT_TRUE(results[0].change);
    auto code = [](const auto& r) {
        try {
            std::rethrow_exception(r.failure);
        } catch (const sluice::error& e) {
            return e.code();
        }
    };
    EXPECT_EQ(code(results[1]), "conflict");
    EXPECT_EQ(code(results[2]), "not_found");
    EXPECT_EQ(code(results[3]), "patch_failed");
    EXPECT_TRUE(results[4].change);
    EXPECT_EQ(store->get("a", "m", "d1")->at("x").as_int64(), 1);
    EXPECT_EQ(store->get("a", "m", "d1")->at("version").as_int64(), 2);
}

TEST_F(SqliteStore, FindFiltersSortsAndPages) {
    for (int i = 0; i < 10; ++i) {
        store->apply(create("op" + std::to_string(i), "d" + std::to_string(i), ("{\"n\":" + std::to_string(i % 4) + "}").c_str()));
    }
    auto f = sluice::json::filter::compile(R"({"n":{"$gte":2}})");
    sluice::store::find_options o;
    o.filter = &f;
    o.sort = {{"n", -1}, {"id", 1}};
    o.limit = 3;
    o.offset = 1;
    auto found = store->find("a", "m", o);
    ASSERT_EQ(found.size(), 3u);
    EXPECT_EQ(found[0].at("id").as_string(), "d7");
    EXPECT_EQ(found[1].at("id").as_string(), "d2");
    EXPECT_EQ(found[2].at("id").as_string(), "d6");
    sluice::store::find_options only;
    only.id = "d3";
    EXPECT_EQ(store->find("a", "m", only).size(), 1u);
}

}  // namespace
