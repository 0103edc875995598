// PostgreSQL going away, hanging or refusing in time: every call answers `unavailable` quickly
// (never a wrong answer, never a caller blocked for good), and the store recovers by itself.
#include "../../unit/store/store_contract.hpp"
#include "pg_support.hpp"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace bj = boost::json;
using namespace sluice::testing;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// Stops the test server; starts it again when the test ends, also when it fails midway.
class server_outage {
  public:
    server_outage() { server_ctl("stop"); }
    void end() {
        if (!down_) return;
        server_ctl("start");
        down_ = false;
    }
    ~server_outage() {
        try {
            end();
        } catch (...) {
        }
    }

  private:
    bool down_ = true;
};

/// Calls `fn`, expecting `unavailable` from the store; returns how long that took.
template <class Fn>
std::chrono::milliseconds expect_unavailable(Fn fn, const char* what) {
    auto start = steady::now();
    try {
        fn();
        ADD_FAILURE() << what << " answered while the store is unavailable";
    } catch (const sluice::unavailable& e) {
        EXPECT_EQ(e.backend(), "store");
    } catch (const std::exception& e) {
        ADD_FAILURE() << what << " threw something else: " << e.what();
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
}

sluice::store::write_request incr(const std::string& op) {
    auto r = update_request(op, "doc", "[]");
    r.patch = bj::array{bj::object{{"op", "incr"}, {"path", "/n"}, {"value", 1}}};
    return r;
}

TEST(PostgresOutage, WhileDownEveryCallIsUnavailableQuicklyAndAfterARestartItWorksAgain) {
    auto store = postgres_backend{}.open();
    store->apply(create_request("c", "doc", R"({"n":0})"));
    ASSERT_TRUE(store->healthy());
    {
        server_outage outage;
        EXPECT_FALSE(store->healthy());
        auto f = sluice::json::filter::compile(R"({"n":{"$gte":0}})");
        sluice::store::find_options o;
        o.filter = &f;
        for (int i = 0; i < 3; ++i) {
            EXPECT_LT(expect_unavailable([&] { store->get("a", "m", "doc"); }, "get"), 1500ms);
            EXPECT_LT(expect_unavailable([&] { store->apply(incr("during")); }, "apply"), 1500ms);
            EXPECT_LT(expect_unavailable([&] { store->find("a", "m", o); }, "find"), 1500ms);
        }
        // Failed connection attempts leave nothing behind (sockets, memory), however many.
        auto open_files = [] {
            return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                 std::filesystem::directory_iterator());
        };
        const auto files = open_files();
        for (int i = 0; i < 200; ++i) EXPECT_FALSE(store->healthy());
        EXPECT_LE(open_files(), files + 1);
        // A store opened while the server is down opens, reports unhealthy, and works later.
        auto late = sluice::pg::open_postgres(test_options());
        EXPECT_FALSE(late->healthy());
        outage.end();
        ASSERT_TRUE(eventually([&] { return late->healthy(); }, 30s));
        EXPECT_EQ(late->get("a", "m", "doc")->at("n").as_int64(), 0);
    }
    // No intervention: the pool replaces its dead connections on the next calls.
    ASSERT_TRUE(eventually([&] { return store->healthy(); }, 30s));
    EXPECT_EQ(store->get("a", "m", "doc")->at("n").as_int64(), 0);  // "during" never applied
    EXPECT_EQ(store->apply(incr("after")).envelope.at("version").as_int64(), 2);
}

TEST(PostgresOutage, AWriterThroughARestartLosesNothingAndAppliesNothingTwice) {
    auto store = postgres_backend{}.open();
    store->apply(create_request("c", "doc", R"({"n":0})"));
    std::atomic<bool> stop{false};
    std::atomic<int> applied{0}, refused{0};
    // The writer's loop: a change the store could not take is offered again, same op, until it is.
    std::thread writer([&] {
        for (int i = 0; !stop; ++i) {
            auto change = incr("w-" + std::to_string(i));
            for (;;) {
                try {
                    store->apply(change);
                    ++applied;
                    break;
                } catch (const sluice::unavailable&) {
                    ++refused;
                    if (stop) return;
                }
            }
        }
    });
    ASSERT_TRUE(eventually([&] { return applied > 20; }, 30s));
    server_ctl("restart");
    ASSERT_TRUE(eventually([&] { return applied > 60; }, 60s));
    stop = true;
    writer.join();
    auto doc = store->get("a", "m", "doc");
    ASSERT_TRUE(doc);
    // Each acknowledged change is there exactly once (an op whose COMMIT's answer was lost came
    // again and was recognised); nothing else is.
    EXPECT_EQ(doc->at("n").as_int64(), applied.load());
    EXPECT_EQ(doc->at("version").as_int64(), applied.load() + 1);
    std::printf("applied %d, refused during the restart %d\n", applied.load(), refused.load());
}

TEST(PostgresOutage, AStatementWaitingTooLongIsUnavailableNotStuck) {
    auto options = test_options();
    options.statement_timeout = 500ms;
    auto store = sluice::pg::open_postgres(options);
    admin_session().run("TRUNCATE documents, applied_ops");
    store->apply(create_request("c", "doc", R"({"n":0})"));
    admin_session holder;
    holder.run("BEGIN");
    holder.run("SELECT 1 FROM documents WHERE id = 'doc' FOR UPDATE");  // as a stuck writer would
    auto took = expect_unavailable([&] { store->apply(incr("blocked")); }, "apply behind a lock");
    EXPECT_GE(took, 400ms);
    EXPECT_LT(took, 3000ms);
    holder.run("ROLLBACK");
    EXPECT_EQ(store->apply(incr("blocked")).envelope.at("after").at("n").as_int64(), 1);
}

/// The pids of the server processes serving `application_name = 'sluice'` sessions.
std::set<int> store_backends(admin_session& admin) {
    std::set<int> pids;
    auto list = admin.run(
        "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE application_name = 'sluice'");
    for (std::size_t at = 0; at < list.size();) {
        auto comma = list.find(',', at);
        pids.insert(std::stoi(list.substr(at, comma - at)));
        at = comma == std::string::npos ? list.size() : comma + 1;
    }
    return pids;
}

/// The postmaster's pid: the first line of DATA/postmaster.pid in the test server's directory.
int postmaster_pid() {
    auto ctl = env_or_fail("SLUICE_TEST_POSTGRES_CTL");
    std::ifstream in(ctl.substr(ctl.rfind(' ') + 1) + "/data/postmaster.pid");
    int pid = 0;
    in >> pid;
    return pid;
}

/// Freezes processes (SIGSTOP by pid: they neither answer nor close, as a hung host would;
/// statement_timeout cannot fire in a stopped process) until the end of the scope.
class frozen {
  public:
    explicit frozen(std::set<int> pids) : pids_(std::move(pids)) {
        for (int pid : pids_) ::kill(pid, SIGSTOP);
    }
    ~frozen() {
        for (int pid : pids_) ::kill(pid, SIGCONT);
    }

  private:
    std::set<int> pids_;
};

TEST(PostgresOutage, AServerThatStopsAnsweringDoesNotBlockTheCaller) {
    auto options = test_options();
    options.statement_timeout = 500ms;
    options.connect_timeout = 1000ms;
    options.pool_size = 2;
    auto store = sluice::pg::open_postgres(options);
    admin_session admin;
    admin.run("TRUNCATE documents, applied_ops");
    store->apply(create_request("c", "doc", R"({"n":0})"));
    {
        // A hung session: given up after statement_timeout + 1 s, the call answered on a new one.
        frozen sessions(store_backends(admin));
        auto start = steady::now();
        EXPECT_EQ(store->get("a", "m", "doc")->at("n").as_int64(), 0);
        EXPECT_LT(steady::now() - start, 2500ms);
    }
    {
        // A hung server (the postmaster too: new connections get no answer either).
        auto pids = store_backends(admin);
        pids.insert(postmaster_pid());
        frozen server(pids);
        // At most: the idle connection tried (0.5 s + 1 s), then a new one (1 s).
        EXPECT_LT(expect_unavailable([&] { store->get("a", "m", "doc"); }, "get from a hung server"), 4000ms);
        EXPECT_LT(expect_unavailable([&] { store->apply(incr("hung")); }, "apply to a hung server"), 4000ms);
        EXPECT_FALSE(store->healthy());
    }
    ASSERT_TRUE(eventually([&] { return store->healthy(); }, 30s));
    EXPECT_EQ(store->get("a", "m", "doc")->at("n").as_int64(), 0);
    EXPECT_EQ(store->apply(incr("hung")).envelope.at("after").at("n").as_int64(), 1);
}

}  // namespace

namespace {

TEST(PostgresOpen, AMalformedUrlIsAConfigurationError) {
    try {
        sluice::pg::open_postgres({.url = "postgresql://[::1"});
        ADD_FAILURE() << "opened";
    } catch (const sluice::error& e) {
        EXPECT_EQ(e.code(), "config_error");
    }
}

TEST(PostgresOpen, SeveralProcessesCreatingTheSchemaAtOnceAllSucceed) {
    sluice::testing::admin_session().run("DROP TABLE IF EXISTS documents, applied_ops");
    std::vector<pid_t> children;
    for (int i = 0; i < 4; ++i) {
        pid_t pid = ::fork();
        if (pid == 0) {
            auto store = sluice::pg::open_postgres(sluice::testing::test_options());
            ::_exit(store->healthy() ? 0 : 1);
        }
        children.push_back(pid);
    }
    for (pid_t pid : children) {
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
}

}  // namespace
