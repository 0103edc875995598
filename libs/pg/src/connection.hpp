#pragma once
// The only code that talks to libpq: one connection used synchronously by one thread at a time,
// every wait bounded by a deadline, and a pool of them.
#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace sluice::pg::detail {

using clock = std::chrono::steady_clock;

/// A statement the server refused. `sqlstate` decides what it means, never the message.
class server_error : public std::runtime_error {
  public:
    server_error(std::string sqlstate, std::string constraint, const std::string& message)
        : std::runtime_error(message), sqlstate_(std::move(sqlstate)), constraint_(std::move(constraint)) {}
    const std::string& sqlstate() const noexcept { return sqlstate_; }
    const std::string& constraint() const noexcept { return constraint_; }
    /// Class 40 (serialization failure, deadlock): the transaction changed nothing; run it again.
    bool retryable() const noexcept { return sqlstate_.starts_with("40"); }
    /// Classes 22 (data exception) and 54 (program limit): the input itself cannot be stored.
    bool input_rejected() const noexcept {
        return sqlstate_.starts_with("22") || sqlstate_.starts_with("54");
    }

  private:
    std::string sqlstate_, constraint_;
};

/// The connection is gone or the server did not answer in time; the connection is dropped.
class connection_lost : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// A query result; rows and columns in text format.
class result {
  public:
    explicit result(PGresult* r) : r_(r, &PQclear) {}
    int rows() const { return PQntuples(r_.get()); }
    bool is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
    std::string_view get(int row, int col) const {
        return {PQgetvalue(r_.get(), row, col), static_cast<std::size_t>(PQgetlength(r_.get(), row, col))};
    }
    /// Rows an INSERT/UPDATE/DELETE touched.
    long affected() const;
    const PGresult* raw() const { return r_.get(); }

  private:
    std::unique_ptr<PGresult, decltype(&PQclear)> r_;
};

/// Parameters in text format; nullopt is SQL NULL.
using params = std::vector<std::optional<std::string>>;

/// One statement of a pipeline: prepared once per connection under `name` when given (then
/// `sql` must not change for that name), else sent as is.
struct statement {
    const char* name = nullptr;
    const char* sql = nullptr;
    params values;
};

/// What one statement of a pipeline gave: rows when it ran, the server's error when it was
/// refused, neither when it was skipped because an earlier statement of the pipeline failed.
struct step {
    std::optional<result> rows;
    std::optional<server_error> error;
};

class connection {
  public:
    /// Connects and sets the session up (statement_timeout); throws connection_lost on failure.
    connection(const std::string& conninfo, std::chrono::milliseconds statement_timeout,
               clock::time_point deadline);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Runs `sql` (with `$1`...). Throws server_error when the server refuses it and
    /// connection_lost when the connection breaks or `deadline` passes (the connection is then
    /// unusable: `broken()`).
    result exec(const std::string& sql, const params& p, clock::time_point deadline);
    /// The same through a statement prepared once per connection under `name`.
    result exec_prepared(const char* name, const char* sql, const params& p, clock::time_point deadline);
    /// Runs a statement without parameters (BEGIN, SAVEPOINT, ...).
    result exec(const char* sql, clock::time_point deadline) { return exec(std::string(sql), {}, deadline); }

    /// Sends `statements` at once and reads their results (libpq pipeline mode): one round trip
    /// for statements that do not depend on each other's results. After a refused statement the
    /// rest are skipped. Throws connection_lost as `exec` does.
    std::vector<step> pipeline(const std::vector<statement>& statements, clock::time_point deadline);

    bool broken() const;
    /// An idle connection whose server went away (restart, idle kill) has a readable socket:
    /// checking it before use saves a failed call after every server restart.
    bool still_alive();

  private:
    void establish(std::chrono::milliseconds statement_timeout, clock::time_point deadline);
    result wait_result(clock::time_point deadline);
    void flush(clock::time_point deadline);
    /// Waits until the socket is readable (or writable); false when `deadline` passed.
    bool wait_socket(bool for_write, clock::time_point deadline);
    [[noreturn]] void lose(const std::string& why);
    /// What a failed result means: a server_error, or (thrown) connection_lost when the session ended.
    server_error error_of(const result& r);
    void send(const char* name, const char* sql, const params& p);
    /// The next result, waiting for it; nullptr between the results of two statements.
    PGresult* next_result(clock::time_point deadline);

    PGconn* conn_ = nullptr;
    bool broken_ = false;
    std::unordered_set<std::string> prepared_;
};

/// A fixed number of connection slots shared by the calling threads. A slot's connection is made
/// on first use and made again when it broke.
class pool {
  public:
    pool(std::string conninfo, std::size_t size, std::chrono::milliseconds statement_timeout,
         std::chrono::milliseconds connect_timeout);

    class lease {
      public:
        lease(pool& p, std::size_t slot) : pool_(&p), slot_(slot) {}
        lease(lease&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), slot_(o.slot_) {}
        lease& operator=(lease&&) = delete;
        ~lease() {
            if (pool_) pool_->release(slot_);
        }
        connection& operator*() const { return *pool_->slots_[slot_]; }
        connection* operator->() const { return pool_->slots_[slot_].get(); }
        /// True when this connection was just made (a failure on it is not a stale connection).
        bool fresh() const { return pool_->fresh_[slot_]; }

      private:
        pool* pool_;
        std::size_t slot_;
    };

    /// A usable connection, connecting when needed. Throws connection_lost when the server
    /// cannot be reached or every slot stays busy until `deadline`.
    lease acquire(clock::time_point deadline);
    /// Drops every idle connection (after an outage, so none of them is tried again).
    void drop_idle();

    std::chrono::milliseconds statement_timeout() const { return statement_timeout_; }
    /// Deadline of one statement seen from the client: the server's own limit plus a margin.
    clock::time_point statement_deadline() const {
        return clock::now() + statement_timeout_ + std::chrono::seconds(1);
    }

  private:
    void release(std::size_t slot);

    std::string conninfo_;
    std::chrono::milliseconds statement_timeout_, connect_timeout_;
    std::mutex mutex_;
    std::condition_variable freed_;
    std::vector<std::unique_ptr<connection>> slots_;
    std::vector<char> busy_, fresh_;  // not vector<bool>: holders read their own slot without the lock
};

}  // namespace sluice::pg::detail
