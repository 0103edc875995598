#pragma once
// The contract of `sluice::store::store` (store.hpp), as typed tests every implementation runs:
// a binary includes this header and instantiates the suite with a backend type that is default
// constructible (an empty store of its own) and has `std::unique_ptr<store> open()`:
//   INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, StoreContract, ::testing::Types<sqlite_backend>);
#include <sluice/core/error.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/store/store.hpp>

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

namespace sluice::testing {

/// Accept times of test changes: recent, since stores prune op records by age (a week).
inline std::int64_t test_ts() {
    static const std::int64_t ts = now_ms();
    return ts;
}

inline store::write_request create_request(std::string op, std::string id, const char* body) {
    store::write_request r;
    r.op = std::move(op);
    r.type = store::write_request::kind::create;
    r.app = "a";
    r.model = "m";
    r.id = std::move(id);
    r.actor = "alice";
    r.ts = test_ts();
    r.body = parse_json(body).as_object();
    return r;
}

inline store::write_request update_request(std::string op, std::string id, const char* patch) {
    auto r = create_request(std::move(op), std::move(id), "{}");
    r.type = store::write_request::kind::update;
    r.actor = "bob";
    r.patch = parse_json(patch).as_array();
    return r;
}

inline store::write_request remove_request(std::string op, std::string id) {
    auto r = create_request(std::move(op), std::move(id), "{}");
    r.type = store::write_request::kind::remove;
    return r;
}

/// The code of a failed slot of `apply_batch` ("" when it did not fail with a sluice::error).
inline std::string failure_code(const store::store::outcome& r) {
    if (!r.failure) return "";
    try {
        std::rethrow_exception(r.failure);
    } catch (const sluice::error& e) {
        return e.code();
    } catch (...) {
        return "?";
    }
}

template <class Backend>
struct StoreContract : ::testing::Test {
    Backend backend;
    std::unique_ptr<store::store> store = backend.open();
};

TYPED_TEST_SUITE_P(StoreContract);

TYPED_TEST_P(StoreContract, AppliesAndDescribesChanges) {
    auto& store = this->store;
    auto c = store->apply(create_request("op1", "d1", R"({"n":1})"));
    EXPECT_FALSE(c.duplicate);
    EXPECT_EQ(c.envelope.at("event").as_string(), "model_created");
    EXPECT_TRUE(c.envelope.at("before").is_null());
    EXPECT_EQ(c.envelope.at("after").at("owner").as_string(), "alice");
    auto u = store->apply(update_request("op2", "d1", R"([{"op":"incr","path":"/n","value":2}])"));
    EXPECT_EQ(u.envelope.at("version").as_int64(), 2);
    EXPECT_EQ(u.envelope.at("owner").as_string(), "alice");  // the owner, not the actor
    EXPECT_EQ(u.envelope.at("actor").as_string(), "bob");
    EXPECT_EQ(u.envelope.at("before").at("n").as_int64(), 1);
    EXPECT_EQ(u.envelope.at("after").at("n").as_int64(), 3);
    EXPECT_EQ(store->get("a", "m", "d1")->at("n").as_int64(), 3);
    auto d = store->apply(remove_request("op3", "d1"));
    EXPECT_EQ(d.envelope.at("event").as_string(), "model_deleted");
    EXPECT_EQ(d.envelope.at("version").as_int64(), 3);
    EXPECT_TRUE(d.envelope.at("after").is_null());
    EXPECT_FALSE(store->get("a", "m", "d1"));
}

TYPED_TEST_P(StoreContract, KeepsDocumentsExactlyAsWritten) {
    // Member order and number types survive storage (1.0 stays a double, "1" a string).
    auto c = this->store->apply(
        create_request("op1", "d1", R"({"z":1.0,"a":[1,"1",{"y":null,"b":true}],"m":-0.5})"));
    auto got = this->store->get("a", "m", "d1");
    ASSERT_TRUE(got);
    EXPECT_EQ(boost::json::serialize(*got), boost::json::serialize(c.envelope.at("after")));
    EXPECT_TRUE(got->at("z").is_double());
    EXPECT_EQ(got->begin()->key(), "z");
}

TYPED_TEST_P(StoreContract, ReplayedOpsChangeNothingAndReturnTheSameEnvelope) {
    auto& store = this->store;
    store->apply(create_request("op1", "d1", R"({"n":1})"));
    auto first = store->apply(update_request("op2", "d1", R"([{"op":"incr","path":"/n","value":1}])"));
    auto again = store->apply(update_request("op2", "d1", R"([{"op":"incr","path":"/n","value":1}])"));
    EXPECT_TRUE(again.duplicate);
    EXPECT_EQ(again.envelope, first.envelope);
    EXPECT_EQ(store->get("a", "m", "d1")->at("n").as_int64(), 2);
    // A replayed create is a duplicate, not a conflict; a replayed delete not a not_found.
    EXPECT_TRUE(store->apply(create_request("op1", "d1", R"({"n":1})")).duplicate);
    store->apply(remove_request("op3", "d1"));
    EXPECT_TRUE(store->apply(remove_request("op3", "d1")).duplicate);
    // The same op twice in one batch: applied once.
    store->apply(create_request("op4", "d2", R"({"n":1})"));
    auto twice =
        store->apply_batch({update_request("op5", "d2", R"([{"op":"incr","path":"/n","value":1}])"),
                            update_request("op5", "d2", R"([{"op":"incr","path":"/n","value":1}])")});
    ASSERT_TRUE(twice[0].change && twice[1].change);
    EXPECT_FALSE(twice[0].change->duplicate);
    EXPECT_TRUE(twice[1].change->duplicate);
    EXPECT_EQ(store->get("a", "m", "d2")->at("n").as_int64(), 2);
}

TYPED_TEST_P(StoreContract, FinalFailuresStayInTheirSlotOfTheBatch) {
    auto& store = this->store;
    auto results =
        store->apply_batch({create_request("op1", "d1", "{}"), create_request("op2", "d1", "{}"),
                            update_request("op3", "nope", "[]"),
                            update_request("op4", "d1", R"([{"op":"test","path":"/x","value":1}])"),
                            update_request("op5", "d1", R"([{"op":"add","path":"/x","value":1}])")});
    ASSERT_EQ(results.size(), 5u);
    EXPECT_TRUE(results[0].change);
    EXPECT_EQ(failure_code(results[1]), "conflict");
    EXPECT_EQ(failure_code(results[2]), "not_found");
    EXPECT_EQ(failure_code(results[3]), "patch_failed");
    EXPECT_TRUE(results[4].change);
    EXPECT_EQ(store->get("a", "m", "d1")->at("x").as_int64(), 1);
    EXPECT_EQ(store->get("a", "m", "d1")->at("version").as_int64(), 2);
    // A failed op is not recorded: the same op may succeed later.
    EXPECT_TRUE(store->apply(create_request("op3", "d3", "{}")).envelope.at("after").is_object());
}

TYPED_TEST_P(StoreContract, OnlyTheOwnerChangesAnOwnedDocument) {
    auto& store = this->store;
    store->apply(create_request("op1", "d1", R"({"n":1})"));
    auto u = update_request("op2", "d1", R"([{"op":"replace","path":"/n","value":5}])");
    u.require_owner = true;  // bob is not the owner
    auto results = store->apply_batch({u});
    EXPECT_EQ(failure_code(results[0]), "forbidden");
    u.op = "op3";
    u.actor = "alice";
    EXPECT_EQ(store->apply(u).envelope.at("after").at("n").as_int64(), 5);
}

TYPED_TEST_P(StoreContract, FindFiltersSortsAndPages) {
    auto& store = this->store;
    for (int i = 0; i < 10; ++i) {
        auto r = create_request("op" + std::to_string(i), "d" + std::to_string(i),
                                ("{\"n\":" + std::to_string(i % 4) + "}").c_str());
        if (i % 3 == 0) r.actor = "carol";
        store->apply(r);
    }
    auto f = json::filter::compile(R"({"n":{"$gte":2}})");
    store::find_options o;
    o.filter = &f;
    o.sort = {{"n", -1}, {"id", 1}};
    o.limit = 3;
    o.offset = 1;
    auto found = store->find("a", "m", o);
    ASSERT_EQ(found.size(), 3u);
    EXPECT_EQ(found[0].at("id").as_string(), "d7");
    EXPECT_EQ(found[1].at("id").as_string(), "d2");
    EXPECT_EQ(found[2].at("id").as_string(), "d6");
    store::find_options only;
    only.id = "d3";
    EXPECT_EQ(store->find("a", "m", only).size(), 1u);
    store::find_options owned;
    owned.owner = "carol";
    EXPECT_EQ(store->find("a", "m", owned).size(), 4u);
    // Without a filter or sort: write order, paged; an updated document moves to the end.
    store->apply(update_request("op-u", "d0", R"([{"op":"replace","path":"/n","value":9}])"));
    store::find_options page;
    page.offset = 8;
    page.limit = 5;
    auto tail = store->find("a", "m", page);
    ASSERT_EQ(tail.size(), 2u);
    EXPECT_EQ(tail[0].at("id").as_string(), "d9");
    EXPECT_EQ(tail[1].at("id").as_string(), "d0");
    EXPECT_TRUE(store->find("a", "other", page).empty());
    page.limit = 0;
    EXPECT_TRUE(store->find("a", "m", page).empty());
    o.limit = 0;
    EXPECT_TRUE(store->find("a", "m", o).empty());
}

TYPED_TEST_P(StoreContract, AnyIdIsADocumentOfItsOwn) {
    std::vector<store::write_request> batch;
    const char* ids[] = {"q\"uote", "back\\slash",  "comma,{brace}", "sp ace",
                         "%2F/",    "\u00e9\u65e5", "NULL",          ""};
    for (const char* id : ids) batch.push_back(create_request(std::string("op-") + id, id, "{}"));
    for (const char* id : ids)
        batch.push_back(
            update_request(std::string("op2-") + id, id, R"([{"op":"add","path":"/x","value":1}])"));
    auto results = this->store->apply_batch(batch);
    for (const auto& r : results) EXPECT_TRUE(r.change) << failure_code(r);
    for (const char* id : ids) {
        auto doc = this->store->get("a", "m", id);
        ASSERT_TRUE(doc) << id;
        EXPECT_EQ(doc->at("id").as_string(), id);
        EXPECT_EQ(doc->at("version").as_int64(), 2);
    }
}

TYPED_TEST_P(StoreContract, RecordsWhatBecameOfEachChange) {
    auto& store = this->store;
    EXPECT_FALSE(store->recorded_outcome("r1"));  // not taken yet
    auto results = store->apply_batch({create_request("r1", "x1", R"({"n":1})"), create_request("r2", "x1", "{}"),
                                       update_request("r3", "x1", R"([{"op":"test","path":"/n","value":2}])")});
    ASSERT_EQ(results.size(), 3u);
    auto applied = store->recorded_outcome("r1");
    ASSERT_TRUE(applied && applied->envelope);
    EXPECT_EQ(applied->envelope->at("after").at("n").as_int64(), 1);
    EXPECT_EQ(applied->envelope->at("op").as_string(), "r1");
    auto conflict = store->recorded_outcome("r2");
    ASSERT_TRUE(conflict);
    EXPECT_FALSE(conflict->envelope);
    EXPECT_EQ(conflict->failure, errc::conflict);
    EXPECT_NE(conflict->message.find("x1"), std::string::npos) << conflict->message;
    auto failed = store->recorded_outcome("r3");
    ASSERT_TRUE(failed);
    EXPECT_EQ(failed->failure, errc::patch_failed);
    // A failed change applied later (a replay after a fix) reads as applied.
    store->apply(remove_request("r4", "x1"));
    EXPECT_TRUE(store->apply(create_request("r2", "x1", "{}")).envelope.at("after").is_object());
    auto replayed = store->recorded_outcome("r2");
    ASSERT_TRUE(replayed);
    EXPECT_TRUE(replayed->envelope);
    // Refused before the writer (by a stage of the graph): recorded as such, once; a refused
    // change applied later reads as applied, and an applied one is not overwritten by a refusal.
    store->record_refusal("r5", error(errc::rejected, "stage 'validate' refused the change: no title"));
    store->record_refusal("r5", error(errc::rejected, "again"));
    auto refused = store->recorded_outcome("r5");
    ASSERT_TRUE(refused);
    EXPECT_FALSE(refused->envelope);
    EXPECT_EQ(refused->failure, errc::rejected);
    EXPECT_EQ(refused->message, "stage 'validate' refused the change: no title");
    store->record_refusal("r1", error(errc::rejected, "late"));
    EXPECT_TRUE(store->recorded_outcome("r1")->envelope);
    EXPECT_TRUE(store->apply(create_request("r5", "x5", "{}")).envelope.at("after").is_object());
    EXPECT_TRUE(store->recorded_outcome("r5")->envelope);
}

TYPED_TEST_P(StoreContract, ADocumentTheCheckRefusesIsAFinalFailure) {
    // What the writer sets for a model with a schema: the client's fields of the resulting document.
    auto at_most_ten = [](const boost::json::object& fields) {
        EXPECT_FALSE(fields.contains("version")) << "system fields are not the client's";
        if (fields.contains("n") && fields.at("n").to_number<std::int64_t>() > 10)
            throw error(errc::schema_violation, "document does not match its schema at /n");
    };
    auto create = create_request("s1", "x1", R"({"n":1})");
    create.check_document = at_most_ten;
    auto incr = [&](const char* op, int by) {
        auto r = update_request(op, "x1", ("[{\"op\":\"replace\",\"path\":\"/n\",\"value\":" + std::to_string(by) + "}]").c_str());
        r.check_document = at_most_ten;
        return r;
    };
    auto results = this->store->apply_batch({create, incr("s2", 5), incr("s3", 11)});
    ASSERT_EQ(results.size(), 3u);
    EXPECT_TRUE(results[0].change && results[1].change);
    ASSERT_TRUE(results[2].failure);
    try {
        std::rethrow_exception(results[2].failure);
    } catch (const error& e) {
        EXPECT_EQ(e.kind(), errc::schema_violation);
    }
    EXPECT_EQ(this->store->get("a", "m", "x1")->at("n").as_int64(), 5);
    EXPECT_EQ(this->store->recorded_outcome("s3")->failure, errc::schema_violation);
}

TYPED_TEST_P(StoreContract, APatchThatLeavesNoObjectIsAFinalFailure) {
    this->store->apply(create_request("o1", "x1", R"({"n":1})"));
    auto results = this->store->apply_batch({update_request("o2", "x1", R"([{"op":"replace","path":"","value":5}])"),
                                             update_request("o3", "x1", R"([{"op":"replace","path":"","value":{"m":2}}])")});
    ASSERT_EQ(results.size(), 2u);
    ASSERT_TRUE(results[0].failure);
    try {
        std::rethrow_exception(results[0].failure);
    } catch (const error& e) {
        EXPECT_EQ(e.kind(), errc::patch_failed);
        EXPECT_NE(std::string(e.what()).find("must stay a JSON object"), std::string::npos) << e.what();
    }
    ASSERT_TRUE(results[1].change);  // replacing the whole document by another object is a patch like any other
    auto doc = this->store->get("a", "m", "x1");
    EXPECT_EQ(doc->at("m").as_int64(), 2);
    EXPECT_FALSE(doc->contains("n"));
    EXPECT_EQ(doc->at("id").as_string(), "x1");
}

TYPED_TEST_P(StoreContract, ALeaseHasOneHolderUntilItExpiresOrIsGivenUp) {
    using namespace std::chrono_literals;
    auto& s = *this->store;
    EXPECT_TRUE(s.acquire_lease("reconciler:r", "p1", 60s));
    EXPECT_TRUE(s.acquire_lease("reconciler:r", "p1", 60s)) << "the holder renews it";
    EXPECT_FALSE(s.acquire_lease("reconciler:r", "p2", 60s)) << "another waits while it runs";
    EXPECT_TRUE(s.acquire_lease("reconciler:other", "p2", 60s)) << "one lease per name";
    s.release_lease("reconciler:r", "p2");  // not p2's: no effect
    EXPECT_FALSE(s.acquire_lease("reconciler:r", "p2", 60s));
    s.release_lease("reconciler:r", "p1");
    EXPECT_TRUE(s.acquire_lease("reconciler:r", "p2", 1ms)) << "given up: free at once";
    // p2's lease of 1 ms expires (the store's clock decides): p1 takes it over.
    bool taken = false;
    for (int i = 0; i < 200 && !taken; ++i) {
        taken = s.acquire_lease("reconciler:r", "p1", 60s);
        if (!taken) std::this_thread::sleep_for(5ms);
    }
    EXPECT_TRUE(taken);
    EXPECT_FALSE(s.acquire_lease("reconciler:r", "p2", 60s));
}

TYPED_TEST_P(StoreContract, KeepsWhatAReconcilerFound) {
    auto& s = *this->store;
    EXPECT_FALSE(s.read_sync("r").last_run);
    EXPECT_TRUE(s.read_sync("r").records.empty());
    s.record_sync("r", 1000, {{"b", 1001, "failed", "check 1: negative"}, {"a", 1002, "ok", ""}});
    s.record_sync("r", 2000, {{"b", 2001, "fixed", "check 1: negative"}});
    s.record_sync("other", 3000, {{"a", 3001, "failed", "x"}});
    auto state = s.read_sync("r");
    EXPECT_EQ(state.last_run, 2000);
    ASSERT_EQ(state.records.size(), 2u);
    EXPECT_EQ(state.records[0].id, "a");
    EXPECT_EQ(state.records[0].status, "ok");
    EXPECT_EQ(state.records[1].id, "b");
    EXPECT_EQ(state.records[1].last_sync, 2001);
    EXPECT_EQ(state.records[1].status, "fixed");
    EXPECT_EQ(state.records[1].error, "check 1: negative");
    EXPECT_EQ(s.read_sync("other").records.size(), 1u);
}

TYPED_TEST_P(StoreContract, IsHealthy) {
    EXPECT_TRUE(this->store->healthy());
}

REGISTER_TYPED_TEST_SUITE_P(StoreContract, AppliesAndDescribesChanges, KeepsDocumentsExactlyAsWritten,
                            ReplayedOpsChangeNothingAndReturnTheSameEnvelope,
                            FinalFailuresStayInTheirSlotOfTheBatch, OnlyTheOwnerChangesAnOwnedDocument,
                            FindFiltersSortsAndPages, AnyIdIsADocumentOfItsOwn, RecordsWhatBecameOfEachChange,
                            ADocumentTheCheckRefusesIsAFinalFailure, APatchThatLeavesNoObjectIsAFinalFailure,
                            ALeaseHasOneHolderUntilItExpiresOrIsGivenUp, KeepsWhatAReconcilerFound, IsHealthy);

}  // namespace sluice::testing
