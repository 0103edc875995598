// The GIN index (jsonb_path_ops) on the document body serves `find` filters with a selective
// equality on a top-level field: PostgreSQL answers them from the index instead of reading every
// document of the model, seen in its own statistics (pg_stat_user_indexes.idx_scan).
#include "../../unit/store/store_contract.hpp"
#include "pg_support.hpp"

namespace {

namespace bj = boost::json;
using namespace sluice::testing;
using namespace std::chrono_literals;

TEST(PostgresIndex, AnEqualityFilterIsAnsweredFromTheBodyIndex) {
    auto store = postgres_backend{}.open();
    admin_session admin;
    // 100000 documents, 20 of them "rare": written by SQL, as many writers would have over time
    // (through the store it would take minutes); the planner prefers the index at this size.
    admin.run(
        "INSERT INTO documents (key, app, model, id, owner, version, seq, doc, body) "
        "SELECT 'a/m/d' || i, 'a', 'm', 'd' || i, 'alice', 1, nextval('document_writes'), body::text, body FROM ("
        "  SELECT i, jsonb_build_object('status', CASE WHEN i % 5000 = 7 THEN 'rare' ELSE 'common' END, 'n', "
        "i) AS body"
        "  FROM generate_series(1, 100000) i) AS g");
    admin.run("VACUUM ANALYZE documents");
    auto scans = [&] {
        return std::stol(
            admin.run("SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'documents_body'"));
    };
    const long before = scans();
    for (const char* text :
         {R"({"status": "rare"})", R"({"status": {"$in": ["rare", "missing"]}, "n": {"$gte": 0}})"}) {
        auto filter = sluice::json::filter::compile(text);
        sluice::store::find_options o;
        o.filter = &filter;
        auto found = store->find("a", "m", o);
        EXPECT_EQ(found.size(), 20u) << text;
    }
    // Statistics reach the shared view when the backend goes idle (at most once a second).
    EXPECT_TRUE(eventually(
        [&] {
            admin.run("SELECT pg_stat_clear_snapshot()");
            return scans() >= before + 2;
        },
        10s))
        << "idx_scan stayed " << scans();
}

}  // namespace
