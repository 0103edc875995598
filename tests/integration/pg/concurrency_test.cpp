// Several writer processes on one PostgreSQL: per-document order and effects once. The writers
// are forked processes, each with its own store and connections, as two `sluice stage writer`
// instances would be.
#include "../../unit/store/store_contract.hpp"
#include "pg_support.hpp"

#include <functional>
#include <set>

#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace bj = boost::json;
using sluice::store::write_request;
using namespace sluice::testing;

/// Runs `body` in a child process; returns its pid. The child's exit status is body's result.
pid_t spawn(const std::function<int()>& body) {
    pid_t pid = ::fork();
    if (pid == 0) {
        int status = 1;
        try {
            status = body();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child: %s\n", e.what());
        }
        ::_exit(status);
    }
    return pid;
}

int exit_status(pid_t pid) {
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

write_request incr_and_log(const std::string& op, const std::string& id, const std::string& mark) {
    auto r = update_request(op, id, "[]");
    r.patch = bj::array{bj::object{{"op", "incr"}, {"path", "/n"}, {"value", 1}},
                        bj::object{{"op", "add"}, {"path", "/log/-"}, {"value", mark}}};
    return r;
}

/// Applies `changes` in batches of 1 to 5, retrying a batch the store could not take (as the
/// writer does); returns how many were applied for the first time, or -1 on a final failure.
int apply_all(sluice::store::store& store, const std::vector<write_request>& changes) {
    int fresh = 0;
    for (std::size_t i = 0; i < changes.size();) {
        std::size_t n = std::min<std::size_t>(1 + i % 5, changes.size() - i);
        std::vector<write_request> batch(changes.begin() + static_cast<std::ptrdiff_t>(i),
                                         changes.begin() + static_cast<std::ptrdiff_t>(i + n));
        std::vector<sluice::store::store::outcome> results;
        try {
            results = store.apply_batch(batch);
        } catch (const sluice::unavailable&) {
            continue;
        }
        for (const auto& r : results) {
            if (!r.change) return -1;
            fresh += !r.change->duplicate;
        }
        i += n;
    }
    return fresh;
}

struct PostgresConcurrency : ::testing::Test {
    std::unique_ptr<sluice::store::store> store = postgres_backend{}.open();
    admin_session admin;
};

TEST_F(PostgresConcurrency, TwoWriterProcessesOnOneDocumentKeepVersionOrderAndLoseNothing) {
    store->apply(create_request("c", "doc", R"({"n":0,"log":[]})"));
    const int per_writer = 150;
    std::vector<pid_t> writers;
    for (std::string w : {"w1", "w2"}) {
        writers.push_back(spawn([w] {
            auto own = sluice::pg::open_postgres(test_options());
            std::vector<write_request> changes;
            for (int i = 0; i < per_writer; ++i)
                changes.push_back(
                    incr_and_log(w + "-" + std::to_string(i), "doc", w + ":" + std::to_string(i)));
            return apply_all(*own, changes) == per_writer ? 0 : 1;
        }));
    }
    for (pid_t w : writers) EXPECT_EQ(exit_status(w), 0);

    auto doc = store->get("a", "m", "doc");
    ASSERT_TRUE(doc);
    EXPECT_EQ(doc->at("n").as_int64(), 2 * per_writer);
    EXPECT_EQ(doc->at("version").as_int64(), 2 * per_writer + 1);
    // Each writer's changes landed in the order it sent them, interleaved with the other's.
    std::map<std::string, int> last{{"w1", -1}, {"w2", -1}};
    for (const auto& mark : doc->at("log").as_array()) {
        std::string m(mark.as_string());
        auto colon = m.find(':');
        int i = std::stoi(m.substr(colon + 1));
        EXPECT_EQ(i, last[m.substr(0, colon)] + 1) << m;
        last[m.substr(0, colon)] = i;
    }
    // Every change saw its predecessor: versions 2..301 once each, each one step on from its before.
    std::set<std::int64_t> versions;
    for (int i = 0; i < 2 * per_writer; ++i) {
        std::string op = (i < per_writer ? "w1-" : "w2-") + std::to_string(i % per_writer);
        auto env = sluice::parse_json(admin.run("SELECT envelope FROM applied_ops WHERE op = '" + op + "'"))
                       .as_object();
        auto v = env.at("version").as_int64();
        EXPECT_EQ(env.at("before").at("version").as_int64() + 1, v);
        EXPECT_EQ(env.at("before").at("n").as_int64() + 1, env.at("after").at("n").as_int64());
        versions.insert(v);
    }
    EXPECT_EQ(versions.size(), std::size_t(2 * per_writer));
    EXPECT_EQ(*versions.begin(), 2);
    EXPECT_EQ(*versions.rbegin(), 2 * per_writer + 1);
}

TEST_F(PostgresConcurrency, TheSameOpsRedeliveredToTwoProcessesAtOnceApplyOnce) {
    store->apply(create_request("c", "doc", R"({"n":0,"log":[]})"));
    const int ops = 120;
    std::vector<write_request> changes;
    for (int i = 0; i < ops; ++i)
        changes.push_back(incr_and_log("op-" + std::to_string(i), "doc", std::to_string(i)));
    // Each child reports how many ops it applied for the first time; together, each op once.
    std::vector<pid_t> writers;
    for (int w = 0; w < 2; ++w) {
        writers.push_back(spawn([&changes] {
            auto own = sluice::pg::open_postgres(test_options());
            int fresh = apply_all(*own, changes);
            return fresh < 0 ? 255 : fresh;
        }));
    }
    int fresh = 0;
    for (pid_t w : writers) {
        int s = exit_status(w);
        ASSERT_NE(s, 255);
        ASSERT_GE(s, 0);
        fresh += s;
    }
    EXPECT_EQ(fresh, ops);
    auto doc = store->get("a", "m", "doc");
    EXPECT_EQ(doc->at("n").as_int64(), ops);  // an incr applied twice would show here
    EXPECT_EQ(doc->at("version").as_int64(), ops + 1);
    EXPECT_EQ(doc->at("log").as_array().size(), std::size_t(ops));
    // And a redelivery long after: duplicates, nothing changes.
    EXPECT_EQ(apply_all(*store, changes), 0);
    EXPECT_EQ(store->get("a", "m", "doc")->at("n").as_int64(), ops);
}

TEST_F(PostgresConcurrency, TwoProcessesCreatingOneIdOneWins) {
    for (int round = 0; round < 20; ++round) {
        std::string id = "race" + std::to_string(round);
        std::vector<pid_t> writers;
        for (int w = 0; w < 2; ++w) {
            writers.push_back(spawn([id, w] {
                auto own = sluice::pg::open_postgres(test_options());
                auto r = own->apply_batch({create_request(id + "-" + std::to_string(w), id, "{}")});
                if (r[0].change) return 0;
                return failure_code(r[0]) == "conflict" ? 1 : 2;
            }));
        }
        int won = 0, conflicts = 0;
        for (pid_t w : writers) {
            int s = exit_status(w);
            won += s == 0;
            conflicts += s == 1;
        }
        EXPECT_EQ(won, 1);
        EXPECT_EQ(conflicts, 1);
    }
}

TEST_F(PostgresConcurrency, ACreateRedeliveredToTwoProcessesAtOnceIsOneCreateAndOneDuplicate) {
    // No row to lock yet: the two inserts race on the key; the loser must find the winner's op
    // record and answer `duplicate`, not `conflict`.
    for (int round = 0; round < 20; ++round) {
        std::string id = "redelivered" + std::to_string(round);
        std::vector<pid_t> writers;
        for (int w = 0; w < 2; ++w) {
            writers.push_back(spawn([id] {
                auto own = sluice::pg::open_postgres(test_options());
                auto r = own->apply_batch({create_request("op-" + id, id, R"({"n":1})")});
                if (!r[0].change) return 2;
                return r[0].change->duplicate ? 1 : 0;
            }));
        }
        int fresh = 0, duplicates = 0;
        for (pid_t w : writers) {
            int status = exit_status(w);
            fresh += status == 0;
            duplicates += status == 1;
        }
        EXPECT_EQ(fresh, 1) << id;
        EXPECT_EQ(duplicates, 1) << id;
    }
}

TEST_F(PostgresConcurrency, BatchesLockingDocumentsInOppositeOrdersAllApply) {
    // Writer 1 changes x then y in each batch, writer 2 y then x: their row locks can deadlock;
    // PostgreSQL aborts one transaction, which changed nothing, and the store runs it again.
    store->apply_batch(
        {create_request("cx", "x", R"({"n":0,"log":[]})"), create_request("cy", "y", R"({"n":0,"log":[]})")});
    const int batches = 40;
    std::vector<pid_t> writers;
    for (int w = 0; w < 2; ++w) {
        writers.push_back(spawn([w] {
            auto own = sluice::pg::open_postgres(test_options());
            for (int b = 0; b < batches; ++b) {
                std::string first = w == 0 ? "x" : "y", second = w == 0 ? "y" : "x";
                auto tag = std::to_string(w) + "-" + std::to_string(b);
                std::vector<write_request> batch{incr_and_log("a" + tag, first, tag),
                                                 incr_and_log("b" + tag, second, tag)};
                for (;;) {
                    try {
                        auto r = own->apply_batch(batch);
                        if (!r[0].change || !r[1].change) return 1;
                        break;
                    } catch (const sluice::unavailable&) {  // retried by the store 5 times already
                    }
                }
            }
            return 0;
        }));
    }
    for (pid_t w : writers) EXPECT_EQ(exit_status(w), 0);
    for (const char* id : {"x", "y"}) {
        auto doc = store->get("a", "m", id);
        EXPECT_EQ(doc->at("n").as_int64(), 2 * batches) << id;
        EXPECT_EQ(doc->at("version").as_int64(), 2 * batches + 1) << id;
    }
}

TEST_F(PostgresConcurrency, ADocumentPostgresCannotHoldFailsOnlyItsSlot) {
    auto bad = create_request("bad", "d-bad", "{}");
    bad.body["text"] = std::string("a\0b", 3);  // valid JSON ("\u0000"), refused by jsonb
    auto results =
        store->apply_batch({create_request("ok1", "d1", "{}"), bad, create_request("ok2", "d2", "{}")});
    EXPECT_TRUE(results[0].change);
    EXPECT_EQ(failure_code(results[1]), "invalid_input");
    EXPECT_TRUE(results[2].change);
    EXPECT_TRUE(store->get("a", "m", "d1"));
    EXPECT_FALSE(store->get("a", "m", "d-bad"));
    EXPECT_TRUE(store->get("a", "m", "d2"));
}

}  // namespace
