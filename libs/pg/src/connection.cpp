#include "connection.hpp"

#include <cerrno>
#include <cstdlib>

#include <poll.h>

namespace sluice::pg::detail {

namespace {

std::string message_of(PGconn* c) {
    std::string m = c ? PQerrorMessage(c) : "out of memory";
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    return m;
}

int remaining_ms(clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 60'000));
}

}  // namespace

long result::affected() const {
    return std::strtol(PQcmdTuples(r_.get()), nullptr, 10);
}

connection::connection(const std::string& conninfo, std::chrono::milliseconds statement_timeout,
                       clock::time_point deadline) {
    // The non-blocking connect lets the deadline bound every step (DNS aside), where
    // connect_timeout would apply per host and per attempt, in whole seconds.
    const char* keywords[] = {"dbname", "application_name", nullptr};
    const char* values[] = {conninfo.c_str(), "sluice", nullptr};
    conn_ = PQconnectStartParams(keywords, values, 1);
    if (conn_ == nullptr) throw connection_lost("cannot allocate a PostgreSQL connection");
    try {
        establish(statement_timeout, deadline);
    } catch (...) {
        PQfinish(conn_);  // no destructor runs for a constructor that throws: no socket left behind
        throw;
    }
}

void connection::establish(std::chrono::milliseconds statement_timeout, clock::time_point deadline) {
    if (PQstatus(conn_) == CONNECTION_BAD) lose("cannot connect to PostgreSQL: " + message_of(conn_));
    for (auto state = PGRES_POLLING_WRITING;;) {
        if (state == PGRES_POLLING_OK) break;
        if (state == PGRES_POLLING_FAILED) lose("cannot connect to PostgreSQL: " + message_of(conn_));
        // The socket can change between steps (one per address tried): ask for it every time.
        if (!wait_socket(state == PGRES_POLLING_WRITING, deadline))
            lose("connecting to PostgreSQL timed out");
        state = PQconnectPoll(conn_);
    }
    // Notices (e.g. "relation already exists, skipping" of the schema's IF NOT EXISTS) are not
    // errors; libpq would print them on stderr.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
    if (PQsetnonblocking(conn_, 1) != 0) lose("cannot make the PostgreSQL connection non-blocking");
    exec(("SET statement_timeout = " + std::to_string(statement_timeout.count())).c_str(), deadline);
}

connection::~connection() {
    if (conn_) PQfinish(conn_);
}

bool connection::broken() const {
    return broken_ || PQstatus(conn_) != CONNECTION_OK;
}

void connection::lose(const std::string& why) {
    broken_ = true;
    throw connection_lost(why);
}

bool connection::wait_socket(bool for_write, clock::time_point deadline) {
    for (;;) {
        pollfd p{PQsocket(conn_), static_cast<short>(for_write ? POLLOUT | POLLIN : POLLIN), 0};
        if (p.fd < 0) lose("PostgreSQL connection has no socket: " + message_of(conn_));
        int n = ::poll(&p, 1, remaining_ms(deadline));
        if (n > 0) return true;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) lose("poll on the PostgreSQL socket failed");
        return false;  // timed out
    }
}

bool connection::still_alive() {
    if (broken()) return false;
    pollfd p{PQsocket(conn_), POLLIN, 0};
    if (p.fd < 0 || ::poll(&p, 1, 0) < 0) return false;
    if (p.revents == 0) return true;  // nothing arrived while idle: the usual case
    // Something arrived while idle: a notice, or the server saying goodbye (admin shutdown) and
    // closing. Read it and see whether the connection survived.
    if (PQconsumeInput(conn_) == 0) return false;
    return PQstatus(conn_) == CONNECTION_OK;
}

void connection::flush(clock::time_point deadline) {
    for (;;) {
        int f = PQflush(conn_);
        if (f == 0) return;
        if (f < 0) lose("sending to PostgreSQL failed: " + message_of(conn_));
        // The server may be sending while we send (notices): read so neither side blocks.
        if (!wait_socket(true, deadline)) lose("sending to PostgreSQL timed out");
        if (PQconsumeInput(conn_) == 0) lose("PostgreSQL connection lost: " + message_of(conn_));
    }
}

result connection::wait_result(clock::time_point deadline) {
    flush(deadline);
    std::optional<result> first_error, last;
    for (;;) {
        PGresult* r = next_result(deadline);
        if (r == nullptr) break;
        auto status = PQresultStatus(r);
        result held(r);
        if (status == PGRES_FATAL_ERROR) {
            if (!first_error) first_error.emplace(std::move(held));
        } else {
            last.emplace(std::move(held));
        }
    }
    if (first_error) throw error_of(*first_error);
    if (PQstatus(conn_) != CONNECTION_OK) lose("PostgreSQL connection lost: " + message_of(conn_));
    if (!last) lose("PostgreSQL returned no result: " + message_of(conn_));
    return std::move(*last);
}

server_error connection::error_of(const result& r) {
    auto field = [&](int code) {
        const char* v = PQresultErrorField(r.raw(), code);
        return std::string(v ? v : "");
    };
    std::string state = field(PG_DIAG_SQLSTATE);
    std::string message = field(PG_DIAG_MESSAGE_PRIMARY);
    if (message.empty()) message = PQresultErrorMessage(r.raw());
    // Class 08 (connection exception) and 57P01-57P03 (the server shutting down or starting up,
    // 57P04 database dropped): the session is over, whatever state the result reports.
    if (state.empty() || state.starts_with("08") || (state.starts_with("57P") && state != "57P05") ||
        PQstatus(conn_) != CONNECTION_OK) {
        lose("PostgreSQL connection lost: " + (message.empty() ? message_of(conn_) : message));
    }
    return server_error(state, field(PG_DIAG_CONSTRAINT_NAME), message);
}

void connection::send(const char* name, const char* sql, const params& p) {
    std::vector<const char*> values;
    values.reserve(p.size());
    for (const auto& v : p) values.push_back(v ? v->c_str() : nullptr);
    const int n = static_cast<int>(values.size());
    int sent = name ? PQsendQueryPrepared(conn_, name, n, values.data(), nullptr, nullptr, 0)
                    : PQsendQueryParams(conn_, sql, n, nullptr, values.data(), nullptr, nullptr, 0);
    if (sent == 0) lose("sending to PostgreSQL failed: " + message_of(conn_));
}

PGresult* connection::next_result(clock::time_point deadline) {
    while (PQisBusy(conn_)) {
        if (!wait_socket(false, deadline)) lose("PostgreSQL did not answer in time");
        if (PQconsumeInput(conn_) == 0) lose("PostgreSQL connection lost: " + message_of(conn_));
    }
    return PQgetResult(conn_);
}

std::vector<step> connection::pipeline(const std::vector<statement>& statements, clock::time_point deadline) {
    if (broken()) lose("PostgreSQL connection is broken");
    for (const auto& s : statements) {
        if (s.name && !prepared_.contains(s.name)) {
            if (PQsendPrepare(conn_, s.name, s.sql, 0, nullptr) == 0)
                lose("sending to PostgreSQL failed: " + message_of(conn_));
            wait_result(deadline);
            prepared_.insert(s.name);
        }
    }
    if (PQenterPipelineMode(conn_) == 0) lose("cannot enter pipeline mode: " + message_of(conn_));
    for (const auto& s : statements) send(s.name, s.sql, s.values);
    if (PQpipelineSync(conn_) == 0) lose("sending to PostgreSQL failed: " + message_of(conn_));
    flush(deadline);
    std::vector<step> steps(statements.size());
    for (auto& st : steps) {
        PGresult* r = next_result(deadline);
        if (r == nullptr) lose("PostgreSQL pipeline out of step");
        result held(r);
        switch (PQresultStatus(r)) {
            case PGRES_FATAL_ERROR:
                st.error.emplace(error_of(held));
                break;
            case PGRES_PIPELINE_ABORTED:
                break;
            default:
                st.rows.emplace(std::move(held));
        }
        if (next_result(deadline) != nullptr) lose("PostgreSQL pipeline out of step");
    }
    PGresult* sync = next_result(deadline);
    if (sync == nullptr || PQresultStatus(sync) != PGRES_PIPELINE_SYNC) {
        if (sync) PQclear(sync);
        lose("PostgreSQL pipeline out of step");
    }
    PQclear(sync);
    if (PQexitPipelineMode(conn_) == 0) lose("cannot leave pipeline mode: " + message_of(conn_));
    return steps;
}

result connection::exec(const std::string& sql, const params& p, clock::time_point deadline) {
    if (broken()) lose("PostgreSQL connection is broken");
    send(nullptr, sql.c_str(), p);
    return wait_result(deadline);
}

result connection::exec_prepared(const char* name, const char* sql, const params& p,
                                 clock::time_point deadline) {
    if (broken()) lose("PostgreSQL connection is broken");
    if (!prepared_.contains(name)) {
        if (PQsendPrepare(conn_, name, sql, 0, nullptr) == 0)
            lose("sending to PostgreSQL failed: " + message_of(conn_));
        wait_result(deadline);
        prepared_.insert(name);
    }
    send(name, sql, p);
    return wait_result(deadline);
}

pool::pool(std::string conninfo, std::size_t size, std::chrono::milliseconds statement_timeout,
           std::chrono::milliseconds connect_timeout)
    : conninfo_(std::move(conninfo)),
      statement_timeout_(statement_timeout),
      connect_timeout_(connect_timeout),
      slots_(std::max<std::size_t>(size, 1)),
      busy_(slots_.size(), 0),
      fresh_(slots_.size(), 0) {}

pool::lease pool::acquire(clock::time_point deadline) {
    std::size_t slot = 0;
    std::unique_ptr<connection> stale;
    {
        std::unique_lock lock(mutex_);
        for (;;) {
            // Prefer a slot with a live connection; take an empty one only when none is idle.
            std::optional<std::size_t> empty;
            bool found = false;
            for (std::size_t i = 0; i < slots_.size(); ++i) {
                if (busy_[i]) continue;
                if (slots_[i]) {
                    slot = i;
                    found = true;
                    break;
                }
                if (!empty) empty = i;
            }
            if (!found && empty) {
                slot = *empty;
                found = true;
            }
            if (found) break;
            if (freed_.wait_until(lock, deadline) == std::cv_status::timeout)
                throw connection_lost("all " + std::to_string(slots_.size()) +
                                      " PostgreSQL connections stayed busy");
        }
        busy_[slot] = 1;
        if (slots_[slot] && !slots_[slot]->still_alive()) stale = std::move(slots_[slot]);
    }
    stale.reset();  // closes outside the lock
    lease held(*this, slot);
    fresh_[slot] = 0;
    if (!slots_[slot]) {
        auto connect_deadline = std::min(deadline, clock::now() + connect_timeout_);
        slots_[slot] = std::make_unique<connection>(conninfo_, statement_timeout_, connect_deadline);
        fresh_[slot] = 1;
    }
    return held;
}

void pool::release(std::size_t slot) {
    std::unique_ptr<connection> dropped;
    {
        std::lock_guard lock(mutex_);
        if (slots_[slot] && slots_[slot]->broken()) dropped = std::move(slots_[slot]);
        busy_[slot] = 0;
    }
    freed_.notify_one();
}

void pool::drop_idle() {
    std::vector<std::unique_ptr<connection>> dropped;
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (!busy_[i] && slots_[i]) dropped.push_back(std::move(slots_[i]));
    }
}

}  // namespace sluice::pg::detail
