#pragma once
// What the PostgreSQL suites share: the server scripts/servers/with-postgres.sh started, an
// administrative libpq connection to prepare and inspect it, and the control command to stop and
// start it.
#include <sluice/pg/store.hpp>

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace sluice::testing {

inline std::string env_or_fail(const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == 0)
        throw std::runtime_error(std::string(name) +
                                 " is not set: run under scripts/servers/with-postgres.sh");
    return v;
}

inline std::string postgres_url() {
    return env_or_fail("SLUICE_TEST_POSTGRES_URL");
}

inline pg::postgres_options test_options() {
    pg::postgres_options o;
    o.url = postgres_url();
    o.pool_size = 4;
    o.statement_timeout = std::chrono::milliseconds(3000);
    o.connect_timeout = std::chrono::milliseconds(1000);
    return o;
}

/// Runs `postgres.sh DIR VERB` (start, stop, restart) on the test server.
inline void server_ctl(const std::string& verb) {
    std::string command = env_or_fail("SLUICE_TEST_POSTGRES_CTL") + " " + verb;
    if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
}

/// A plain libpq session for the tests' own SQL (truncating, holding locks, inspecting).
class admin_session {
  public:
    admin_session() : conn_(PQconnectdb(postgres_url().c_str()), &PQfinish) {
        if (PQstatus(conn_.get()) != CONNECTION_OK)
            throw std::runtime_error(std::string("admin connection: ") + PQerrorMessage(conn_.get()));
    }
    /// Runs `sql`; returns the first column of the first row ("" when none).
    std::string run(const std::string& sql) {
        std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(conn_.get(), sql.c_str()), &PQclear);
        auto status = PQresultStatus(r.get());
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
            throw std::runtime_error(sql + ": " + PQerrorMessage(conn_.get()));
        if (status == PGRES_TUPLES_OK && PQntuples(r.get()) > 0) return PQgetvalue(r.get(), 0, 0);
        return "";
    }

  private:
    std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
};

/// Polls `done` until it is true or `timeout` passes; returns its last answer.
template <class Fn>
bool eventually(Fn done, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (done()) return true;
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::yield();
    }
}

/// An empty PostgreSQL store for the contract suite: the schema is created by `open`, the tables
/// emptied before each test.
struct postgres_backend {
    std::unique_ptr<store::store> open() {
        auto s = pg::open_postgres(test_options());
        admin_session().run("TRUNCATE documents, applied_ops");
        return s;
    }
};

}  // namespace sluice::testing
