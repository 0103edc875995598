#include <sluice/core/error.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/json/path.hpp>
#include <sluice/json/value.hpp>
#include <sluice/pg/store.hpp>
#include <sluice/store/find_page.hpp>

#include "connection.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <set>

namespace sluice::pg {

namespace bj = boost::json;
namespace st = sluice::store;
using detail::clock;
using detail::connection;
using detail::connection_lost;
using detail::params;
using detail::server_error;
using store::write_request;

namespace {

// The schema, created idempotently. The advisory lock serialises processes starting at once:
// concurrent CREATE ... IF NOT EXISTS of one table can still fail on the catalog's unique index.
constexpr std::int64_t schema_lock_key = 0x5e1c3'd0c5;
// Documents are looked up by `key` (store::ordering_key: app/model/id, escaped), the only index
// on it: a lookup cannot be planned on another index. With the key split over (app, model, id),
// a generic plan made while the table's statistics were stale walked (app, model, seq) and
// filtered on id, reading every document of the model per lookup.
const char* const schema[] = {
    "CREATE TABLE IF NOT EXISTS documents (key text PRIMARY KEY, app text NOT NULL, model text NOT NULL, "
    "id text NOT NULL, owner text NOT NULL, version bigint NOT NULL, seq bigint NOT NULL, doc text NOT NULL, "
    "body jsonb NOT NULL)",
    "CREATE SEQUENCE IF NOT EXISTS document_writes",
    "CREATE INDEX IF NOT EXISTS documents_owner ON documents (app, model, owner)",
    "CREATE INDEX IF NOT EXISTS documents_seq ON documents (app, model, seq)",
    "CREATE INDEX IF NOT EXISTS documents_body ON documents USING gin (body jsonb_path_ops)",
    "CREATE TABLE IF NOT EXISTS applied_ops (op text PRIMARY KEY, envelope text NOT NULL, at bigint NOT "
    "NULL)",
    "CREATE INDEX IF NOT EXISTS applied_ops_at ON applied_ops (at)",
    // Final failures, for `recorded_outcome` only (a failed change is not "seen": a replay after a
    // fix applies it).
    "CREATE TABLE IF NOT EXISTS failed_ops (op text PRIMARY KEY, code text NOT NULL, message text NOT NULL, at bigint NOT NULL)",
    // Reconcilers: their leases (on the server's clock), runs and per-document results.
    "CREATE TABLE IF NOT EXISTS leases (name text PRIMARY KEY, holder text NOT NULL, expires_at bigint NOT NULL)",
    "CREATE TABLE IF NOT EXISTS reconciler_runs (name text PRIMARY KEY, last_run bigint NOT NULL)",
    "CREATE TABLE IF NOT EXISTS reconciler_sync (name text NOT NULL, id text NOT NULL, last_sync bigint NOT NULL, "
    "status text NOT NULL, error text NOT NULL, PRIMARY KEY (name, id))",
};

// Milliseconds since the epoch on the server's clock.
#define SLUICE_PG_NOW_MS "(extract(epoch from clock_timestamp()) * 1000)::bigint"

constexpr const char* seen_op_sql = "SELECT envelope FROM applied_ops WHERE op = $1";
constexpr const char* seen_ops_sql = "SELECT op, envelope FROM applied_ops WHERE op = ANY ($1::text[])";
constexpr const char* get_sql = "SELECT doc FROM documents WHERE key = $1";
constexpr const char* lock_sql = "SELECT doc FROM documents WHERE key = $1 FOR UPDATE";
// The writes of the change-by-change path: a duplicate key does nothing (0 rows), for the
// caller to find out why.
constexpr const char* insert_sql =
    "INSERT INTO documents (key, app, model, id, owner, version, seq, doc, body) "
    "VALUES ($1, $2, $3, $4, $5, $6, nextval('document_writes'), $7::text, ($7::text)::jsonb) ON CONFLICT DO "
    "NOTHING";
constexpr const char* update_sql =
    "UPDATE documents SET owner = $2, version = $3, seq = nextval('document_writes'), doc = $4::text, "
    "body = ($4::text)::jsonb WHERE key = $1";
constexpr const char* delete_sql = "DELETE FROM documents WHERE key = $1";
constexpr const char* record_sql =
    "INSERT INTO applied_ops (op, envelope, at) VALUES ($1, $2, $3) ON CONFLICT (op) DO NOTHING";
// A change and its op record in one statement (the batch's fast path): a duplicate key in either
// fails it.
constexpr const char* insert_recorded_sql =
    "WITH w AS (INSERT INTO documents (key, app, model, id, owner, version, seq, doc, body) "
    "VALUES ($1, $2, $3, $4, $5, $6, nextval('document_writes'), $7::text, ($7::text)::jsonb)) "
    "INSERT INTO applied_ops (op, envelope, at) VALUES ($8, $9, $10)";
constexpr const char* update_recorded_sql =
    "WITH w AS (UPDATE documents SET owner = $2, version = $3, seq = nextval('document_writes'), "
    "doc = $4::text, body = ($4::text)::jsonb WHERE key = $1) "
    "INSERT INTO applied_ops (op, envelope, at) VALUES ($5, $6, $7)";
constexpr const char* delete_recorded_sql =
    "WITH w AS (DELETE FROM documents WHERE key = $1) INSERT INTO applied_ops (op, envelope, at) VALUES ($2, "
    "$3, $4)";

bj::object parse_object(std::string_view text) {
    return parse_json(text, "stored document").as_object();
}

/// A PostgreSQL array literal of text values (`{"a","b\"c"}`).
std::string text_array(const std::vector<std::string>& values) {
    std::string out = "{";
    for (const auto& v : values) {
        if (out.size() > 1) out += ',';
        out += '"';
        for (char ch : v) {
            if (ch == '"' || ch == '\\') out += '\\';
            out += ch;
        }
        out += '"';
    }
    return out + "}";
}

/// The distinct documents of `changes`, by key, in key order.
std::vector<std::string> keys_of(const std::vector<write_request>& changes) {
    std::set<std::string> keys;
    for (const auto& c : changes) keys.insert(c.key());
    return {keys.begin(), keys.end()};
}

/// Statements locking and reading `keys`, one a document, in key order: two batches sharing
/// documents then queue behind each other instead of deadlocking on opposite orders.
void lock_all(const std::vector<std::string>& keys, std::vector<detail::statement>& out) {
    for (const auto& key : keys) out.push_back({"lock_doc", lock_sql, {key}});
}

/// The statement writing `effect` (insert, update or delete) for the change-by-change path.
detail::statement write_statement(const write_request& change, const st::change_effect& effect,
                                  bool existed) {
    if (!effect.after) return {"delete_doc", delete_sql, {change.key()}};
    if (existed)
        return {"update_doc",
                update_sql,
                {change.key(), effect.owner, std::to_string(effect.version), bj::serialize(*effect.after)}};
    return {"insert_doc",
            insert_sql,
            {change.key(), change.app, change.model, change.id, effect.owner, std::to_string(effect.version),
             bj::serialize(*effect.after)}};
}

/// The statement writing `effect` and recording its op at once, for the batch's fast path.
detail::statement recorded_write(const write_request& change, const st::change_effect& effect, bool existed) {
    auto record = [&](params p) {
        p.emplace_back(change.op);
        p.emplace_back(bj::serialize(effect.envelope));
        p.emplace_back(std::to_string(change.ts));
        return p;
    };
    if (!effect.after) return {"delete_recorded", delete_recorded_sql, record({change.key()})};
    if (existed)
        return {"update_recorded", update_recorded_sql,
                record({change.key(), effect.owner, std::to_string(effect.version),
                        bj::serialize(*effect.after)})};
    return {"insert_recorded", insert_recorded_sql,
            record({change.key(), change.app, change.model, change.id, effect.owner,
                    std::to_string(effect.version), bj::serialize(*effect.after)})};
}

/// A query under construction: SQL text and its parameters.
struct query {
    std::string sql;
    params values;
    std::string add(std::string v) {
        values.emplace_back(std::move(v));
        return "$" + std::to_string(values.size());
    }
};

/// Appends `AND (...)` for the filter's necessary conditions on top-level fields (see the
/// header). Each is only necessary: a field holding an array stays a candidate, as an element
/// may match; the filter decides on every row returned.
void push_down(const json::filter& filter, query& q) {
    for (const auto& c : filter.constraints()) {
        auto segments = c.path->segments();
        if (segments.size() != 1) continue;
        const std::string& key = segments[0].key;
        if (c.type == json::field_constraint::kind::equals) {
            if (c.values.empty() || c.values.size() > 100) continue;
            if (!std::all_of(c.values.begin(), c.values.end(),
                             [](const bj::value& v) { return st::exact_in_sql(v); }))
                continue;
            std::string clause;
            for (const auto& v : c.values) {
                // JSONB containment: {"k": v} is the scalar itself, {"k": [v]} an array holding it;
                // both are answered by the jsonb_path_ops index.
                if (!clause.empty()) clause += " OR ";
                const std::string scalar = q.add(bj::serialize(bj::object{{key, v}}));
                const std::string element = q.add(bj::serialize(bj::object{{key, bj::array{v}}}));
                clause += "body @> " + scalar + "::jsonb OR body @> " + element + "::jsonb";
            }
            q.sql += " AND (" + clause + ")";
        } else {
            const bool low = std::isfinite(c.low) && st::exact_in_sql(c.low);
            const bool high = std::isfinite(c.high) && st::exact_in_sql(c.high);
            if (!low && !high) continue;
            const std::string k = q.add(key);
            std::string clause = "(jsonb_typeof(body -> " + k + ") = 'number'";
            if (low) {
                const std::string bound = q.add(bj::serialize(bj::value(c.low)));
                clause += " AND body -> " + k + (c.low_open ? " > " : " >= ") + bound + "::jsonb";
            }
            if (high) {
                const std::string bound = q.add(bj::serialize(bj::value(c.high)));
                clause += " AND body -> " + k + (c.high_open ? " < " : " <= ") + bound + "::jsonb";
            }
            q.sql += " AND (" + clause + ") OR jsonb_typeof(body -> " + k + ") = 'array')";
        }
    }
}

class postgres_store final : public st::store {
  public:
    explicit postgres_store(postgres_options options)
        : options_(std::move(options)),
          pool_(options_.url, options_.pool_size, options_.statement_timeout, options_.connect_timeout) {}

    std::optional<bj::object> get(const std::string& app, const std::string& model,
                                  const std::string& id) override {
        return with_connection([&](connection& c) -> std::optional<bj::object> {
            auto r = c.exec_prepared("get_doc", get_sql, {st::ordering_key(app, model, id)},
                                     pool_.statement_deadline());
            if (r.rows() == 0) return std::nullopt;
            return parse_object(r.get(0, 0));
        });
    }

    std::vector<outcome> apply_batch(const std::vector<write_request>& changes) override {
        if (changes.empty()) return {};
        auto out = with_connection([&](connection& c) {
            for (int attempt = 1;; ++attempt) {
                try {
                    if (auto done = apply_at_once(c, changes)) return std::move(*done);
                    return apply_each(c, changes);
                } catch (const server_error& e) {
                    rollback(c);
                    // A deadlock between two batches (documents locked in opposite orders) or a
                    // serialization failure: the transaction changed nothing, so run it again.
                    if (!e.retryable() || attempt == 5) throw;
                } catch (...) {
                    rollback(c);
                    throw;
                }
            }
        });
        prune_applied_ops();
        return out;
    }

    std::vector<bj::object> find(const std::string& app, const std::string& model,
                                 const st::find_options& options) override {
        return with_connection([&](connection& c) { return find_on(c, app, model, options); });
    }

    std::optional<recorded> recorded_outcome(const std::string& op) override {
        return with_connection([&](connection& c) -> std::optional<recorded> {
            auto r = c.pipeline({{"applied_outcome", seen_op_sql, {op}},
                                 {"failed_outcome", "SELECT code, message FROM failed_ops WHERE op = $1", {op}}},
                                pool_.statement_deadline());
            throw_refusal(r);
            if (r[0].rows->rows() > 0) return recorded{parse_object(r[0].rows->get(0, 0)), {}, {}};
            if (r[1].rows->rows() > 0)
                return recorded{std::nullopt, errc_from_string(r[1].rows->get(0, 0)), std::string(r[1].rows->get(0, 1))};
            return std::nullopt;
        });
    }

    void record_refusal(const std::string& op, const sluice::error& refusal) override {
        with_connection([&](connection& c) {
            c.exec_prepared("record_refusal",
                            "INSERT INTO failed_ops (op, code, message, at) VALUES ($1, $2, $3, $4) ON CONFLICT (op) DO NOTHING",
                            {op, std::string(to_string(refusal.kind())), refusal.what(), std::to_string(now_ms())},
                            pool_.statement_deadline());
            return 0;
        });
    }

    bool acquire_lease(const std::string& name, const std::string& holder, std::chrono::milliseconds ttl) override {
        return with_connection([&](connection& c) {
            return c.exec_prepared("acquire_lease",
                                   "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, " SLUICE_PG_NOW_MS " + $3::bigint) "
                                   "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at "
                                   "WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= " SLUICE_PG_NOW_MS " RETURNING holder",
                                   {name, holder, std::to_string(ttl.count())}, pool_.statement_deadline())
                       .rows() == 1;
        });
    }

    void release_lease(const std::string& name, const std::string& holder) override {
        with_connection([&](connection& c) {
            c.exec_prepared("release_lease", "DELETE FROM leases WHERE name = $1 AND holder = $2", {name, holder}, pool_.statement_deadline());
            return 0;
        });
    }

    void record_sync(const std::string& name, std::int64_t last_run, const std::vector<sync_record>& records) override {
        with_connection([&](connection& c) {
            try {
                c.exec("BEGIN", pool_.statement_deadline());
                c.exec_prepared("record_run",
                                "INSERT INTO reconciler_runs (name, last_run) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET last_run = EXCLUDED.last_run",
                                {name, std::to_string(last_run)}, pool_.statement_deadline());
                for (const auto& r : records) {
                    c.exec_prepared("record_sync",
                                    "INSERT INTO reconciler_sync (name, id, last_sync, status, error) VALUES ($1, $2, $3, $4, $5) "
                                    "ON CONFLICT (name, id) DO UPDATE SET last_sync = EXCLUDED.last_sync, status = EXCLUDED.status, "
                                    "error = EXCLUDED.error",
                                    {name, r.id, std::to_string(r.last_sync), r.status, r.error}, pool_.statement_deadline());
                }
                c.exec("COMMIT", pool_.statement_deadline());
            } catch (...) {
                rollback(c);
                throw;
            }
            return 0;
        });
    }

    sync_state read_sync(const std::string& name) override {
        return with_connection([&](connection& c) {
            sync_state state;
            auto run = c.exec_prepared("read_run", "SELECT last_run FROM reconciler_runs WHERE name = $1", {name}, pool_.statement_deadline());
            if (run.rows() == 1) state.last_run = std::stoll(std::string(run.get(0, 0)));
            auto rows = c.exec_prepared("read_sync", "SELECT id, last_sync, status, error FROM reconciler_sync WHERE name = $1 ORDER BY id COLLATE \"C\"",
                                        {name}, pool_.statement_deadline());
            for (int i = 0; i < rows.rows(); ++i) {
                state.records.push_back({std::string(rows.get(i, 0)), std::stoll(std::string(rows.get(i, 1))), std::string(rows.get(i, 2)),
                                         std::string(rows.get(i, 3))});
            }
            return state;
        });
    }

    bool healthy() override {
        try {
            return with_connection([&](connection& c) {
                return c.exec_prepared("healthy", "SELECT count(*) FROM applied_ops WHERE op = ''", {},
                                       pool_.statement_deadline())
                           .rows() == 1;
            });
        } catch (const std::exception&) {
            return false;
        }
    }

  private:
    /// Runs `fn` on a pooled connection and turns what goes wrong into the store's errors. A
    /// connection that was idle in the pool and turns out dead (the server restarted since) is
    /// replaced and `fn` run once more: every operation here may run twice (apply is idempotent
    /// by op, and a transaction cut off before COMMIT changed nothing).
    template <class Fn>
    auto with_connection(Fn fn) -> decltype(fn(std::declval<connection&>())) {
        for (int attempt = 1;; ++attempt) {
            bool fresh = true;
            try {
                auto lease = pool_.acquire(clock::now() + options_.statement_timeout);
                fresh = lease.fresh();
                if (!schema_ready_.load(std::memory_order_acquire)) create_schema(*lease);
                return fn(*lease);
            } catch (const connection_lost& e) {
                if (attempt == 1 && !fresh) continue;
                pool_.drop_idle();  // the others would most likely fail the same way, one by one
                throw unavailable("store", std::string("PostgreSQL: ") + e.what());
            } catch (const server_error& e) {
                // Our SQL being wrong (class 42) or the server's own failure (XX) is a bug; every
                // other refusal here (timeouts, resources, shutdown) is the store being unable.
                if (e.sqlstate().starts_with("42") || e.sqlstate().starts_with("XX"))
                    throw error(errc::internal,
                                "PostgreSQL refused a statement (" + e.sqlstate() + "): " + e.what());
                throw unavailable("store", "PostgreSQL (" + e.sqlstate() + "): " + e.what());
            }
        }
    }

    void create_schema(connection& c) {
        std::lock_guard lock(schema_mutex_);
        if (schema_ready_.load(std::memory_order_acquire)) return;
        try {
            c.exec("BEGIN", pool_.statement_deadline());
            c.exec("SELECT pg_advisory_xact_lock(" + std::to_string(schema_lock_key) + ")", {},
                   pool_.statement_deadline());
            for (const char* statement : schema) c.exec(statement, pool_.statement_deadline());
            c.exec("COMMIT", pool_.statement_deadline());
        } catch (...) {
            rollback(c);
            throw;
        }
        schema_ready_.store(true, std::memory_order_release);
    }

    /// Ends a failed transaction so the connection can serve the next caller; a connection that
    /// cannot is broken and will be replaced.
    void rollback(connection& c) noexcept {
        try {
            if (!c.broken()) c.exec("ROLLBACK", pool_.statement_deadline());
        } catch (...) {
        }
    }

    /// The steps' first refusal, thrown: for statements whose failure is not the change's.
    static void throw_refusal(const std::vector<detail::step>& steps) {
        for (const auto& st : steps) {
            if (st.error) throw *st.error;
        }
    }

    /// The batch in one transaction and two round trips, whatever its size: [lock and read its
    /// documents in key order, read its ops' records], then Sluice computes every change, then [write them
    /// all, record their ops, COMMIT]. Final failures are decided in Sluice before anything is
    /// written, so they need no savepoint. What only the database can tell (a document it cannot
    /// hold, an id created or an op recorded by another process meanwhile) fails a statement of
    /// the second round trip, which skips the rest, COMMIT included: the transaction is rolled
    /// back and nullopt returned, for `apply_each` to sort out change by change.
    std::optional<std::vector<outcome>> apply_at_once(connection& c,
                                                      const std::vector<write_request>& changes) {
        std::vector<std::string> ops;
        for (const auto& change : changes) ops.push_back(change.op);
        const auto keys = keys_of(changes);
        std::vector<detail::statement> reads{{nullptr, "BEGIN", {}}};
        lock_all(keys, reads);
        // After the locks: a transaction we waited for has committed its op records by now.
        reads.push_back({nullptr, seen_ops_sql, {text_array(ops)}});
        auto read = c.pipeline(reads, pool_.statement_deadline());
        throw_refusal(read);
        std::map<std::string, std::optional<bj::object>, std::less<>> docs;
        for (std::size_t k = 0; k < keys.size(); ++k) {
            const auto& r = *read[k + 1].rows;
            docs[keys[k]] = r.rows() > 0 ? std::optional(parse_object(r.get(0, 0))) : std::nullopt;
        }
        const auto& seen = *read.back().rows;
        std::map<std::string, bj::object, std::less<>> recorded;  // op -> envelope, also those of this batch
        for (int row = 0; row < seen.rows(); ++row)
            recorded[std::string(seen.get(row, 0))] = parse_object(seen.get(row, 1));

        std::vector<outcome> out(changes.size());
        std::vector<detail::statement> writes;
        for (std::size_t i = 0; i < changes.size(); ++i) {
            const auto& change = changes[i];
            if (auto it = recorded.find(change.op); it != recorded.end()) {
                out[i].change = st::applied_change{it->second, true};
                continue;
            }
            auto& current = docs[change.key()];
            const bool existed = current.has_value();
            try {
                auto effect = st::compute_change(change, current);
                // `current` follows the batch: after a delete, a create of the id is an insert.
                writes.push_back(recorded_write(change, effect, existed));
                current = effect.after;
                recorded[change.op] = effect.envelope;
                out[i].change = st::applied_change{std::move(effect.envelope), false};
            } catch (const sluice::error& e) {  // final: this change only, nothing written for it
                out[i].failure = std::current_exception();
                writes.push_back(failure_record(change, e));
            }
        }
        writes.push_back({nullptr, "COMMIT", {}});
        auto done = c.pipeline(writes, pool_.statement_deadline());
        for (const auto& st : done) {
            if (!st.error) continue;
            rollback(c);
            // unique_violation (an id or op taken meanwhile) and documents PostgreSQL refuses
            // are the changes' business: the careful path finds out which. Anything else is not.
            if (st.error->sqlstate() == "23505" || st.error->input_rejected()) return std::nullopt;
            throw *st.error;
        }
        return out;
    }

    /// The batch in one transaction, each change in a savepoint, in two round trips per change
    /// (libpq pipelines): [release the previous savepoint, savepoint, is the op recorded?, lock and
    /// read the document], then, once Sluice has computed the change, [write it, record the op].
    std::vector<outcome> apply_each(connection& c, const std::vector<write_request>& changes) {
        using detail::statement;
        std::vector<outcome> out(changes.size());
        bool begun = false, savepoint = false;
        for (std::size_t i = 0; i < changes.size(); ++i) {
            const auto& change = changes[i];
            std::vector<statement> reads;
            if (!begun) {
                reads.push_back({nullptr, "BEGIN", {}});
                lock_all(keys_of(changes), reads);
            }
            if (savepoint) reads.push_back({nullptr, "RELEASE SAVEPOINT change", {}});
            reads.push_back({nullptr, "SAVEPOINT change", {}});
            reads.push_back({"seen_op", seen_op_sql, {change.op}});
            // The row lock makes a concurrent writer of this document wait until we commit, then
            // read our result: per-document serialisation across processes.
            reads.push_back({"lock_doc", lock_sql, {change.key()}});
            auto read = c.pipeline(reads, pool_.statement_deadline());
            throw_refusal(read);
            begun = savepoint = true;
            const auto& seen = *read[read.size() - 2].rows;
            const auto& locked = *read.back().rows;
            if (seen.rows() > 0) {
                out[i].change = st::applied_change{parse_object(seen.get(0, 0)), true};
                continue;
            }
            std::optional<bj::object> before;
            if (locked.rows() > 0) before = parse_object(locked.get(0, 0));
            try {
                if (auto applied = write_change(c, change, before)) {
                    out[i].change = std::move(*applied);
                    continue;
                }
            } catch (const sluice::error&) {  // final: this change only
                out[i].failure = std::current_exception();
            }
            // Undo this change. Its failure may be the consequence of another process having
            // applied this very op meanwhile (its create made ours a conflict, its delete ours a
            // not_found, or it recorded the op first): the op then counts as applied, and its
            // record is visible now that we waited for that transaction.
            auto undo = c.pipeline(
                {{nullptr, "ROLLBACK TO SAVEPOINT change", {}}, {"seen_op", seen_op_sql, {change.op}}},
                pool_.statement_deadline());
            throw_refusal(undo);
            if (undo[1].rows->rows() == 0 && out[i].failure) record_failure(c, change, out[i].failure);
            if (undo[1].rows->rows() > 0) {
                out[i].failure = nullptr;
                out[i].change = st::applied_change{parse_object(undo[1].rows->get(0, 0)), true};
            } else if (!out[i].failure) {  // lost the race, yet no record: cannot say; try again later
                throw unavailable("store",
                                  "op '" + change.op + "' was recorded concurrently but is not visible");
            }
        }
        std::vector<detail::statement> end;
        if (savepoint) end.push_back({nullptr, "RELEASE SAVEPOINT change", {}});
        end.push_back({nullptr, "COMMIT", {}});
        throw_refusal(c.pipeline(end, pool_.statement_deadline()));
        return out;
    }

    /// The statement that records a change's final failure (for `recorded_outcome`).
    static detail::statement failure_record(const write_request& change, const sluice::error& e) {
        return {"record_failure",
                "INSERT INTO failed_ops (op, code, message, at) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (op) DO UPDATE SET code = excluded.code, message = excluded.message, at = excluded.at",
                {change.op, std::string(to_string(e.kind())), e.what(), std::to_string(change.ts)}};
    }

    /// Records a change's final failure in the batch's transaction.
    void record_failure(connection& c, const write_request& change, const std::exception_ptr& failure) {
        try {
            std::rethrow_exception(failure);
        } catch (const sluice::error& e) {
            throw_refusal(c.pipeline({failure_record(change, e)}, pool_.statement_deadline()));
        }
    }

    /// Writes the change and records its op (one round trip). Returns nullopt when another
    /// transaction recorded the same op first; throws the change's final errors.
    std::optional<st::applied_change> write_change(connection& c, const write_request& change,
                                                   const std::optional<bj::object>& before) {
        auto effect = st::compute_change(change, before);  // throws the final errors
        std::vector<detail::statement> writes{
            write_statement(change, effect, before.has_value()),
            {"record_op",
             record_sql,
             {change.op, bj::serialize(effect.envelope), std::to_string(change.ts)}}};
        auto done = c.pipeline(writes, pool_.statement_deadline());
        if (done[0].error) {
            if (!done[0].error->input_rejected()) throw *done[0].error;
            throw invalid_input(errc::invalid_input, "PostgreSQL cannot store document '" + change.id +
                                                         "' (" + done[0].error->sqlstate() +
                                                         "): " + done[0].error->what());
        }
        throw_refusal(done);
        // Another transaction created this id after our read and committed first.
        if (!before && effect.after && done[0].rows->affected() == 0)
            throw error(errc::conflict, "document '" + change.id + "' already exists");
        if (done[1].rows->affected() == 0) return std::nullopt;
        return st::applied_change{std::move(effect.envelope), false};
    }

    /// Idempotency records only need to outlive redelivery: keep a week, pruned at most hourly
    /// by each process, outside the writers' transactions; a failure waits for the next time.
    void prune_applied_ops() {
        auto now = now_ms();
        auto last = last_prune_.load(std::memory_order_relaxed);
        if (now - last < 3600 * 1000 || !last_prune_.compare_exchange_strong(last, now)) return;
        try {
            with_connection([&](connection& c) {
                c.exec_prepared("prune_ops", "DELETE FROM applied_ops WHERE at < $1",
                                {std::to_string(now - std::int64_t(7) * 24 * 3600 * 1000)},
                                pool_.statement_deadline());
                c.exec_prepared("prune_failed", "DELETE FROM failed_ops WHERE at < $1",
                                {std::to_string(now - std::int64_t(7) * 24 * 3600 * 1000)},
                                pool_.statement_deadline());
            });
        } catch (const std::exception&) {
        }
    }

    std::vector<bj::object> find_on(connection& c, const std::string& app, const std::string& model,
                                    const st::find_options& options) {
        if (options.limit == 0) return {};
        query q{"SELECT seq, doc FROM documents WHERE app = $1 AND model = $2", {app, model}};
        if (options.owner) q.sql += " AND owner = " + q.add(*options.owner);
        if (options.id) q.sql += " AND key = " + q.add(st::ordering_key(app, model, *options.id));
        const bool sorted = !options.sort.empty();
        // Without a filter or a sort, SQL's order (seq: write order, as SQLite's rowid) and
        // paging are the answer.
        if (!options.filter && !sorted) {
            const std::string limit = q.add(std::to_string(options.limit));
            const std::string offset = q.add(std::to_string(options.offset));
            q.sql += " ORDER BY seq LIMIT " + limit + " OFFSET " + offset;
            auto r = c.exec(q.sql, q.values, pool_.statement_deadline());
            std::vector<bj::object> out;
            out.reserve(static_cast<std::size_t>(r.rows()));
            for (int row = 0; row < r.rows(); ++row) out.push_back(parse_object(r.get(row, 1)));
            return out;
        }
        if (options.filter) push_down(*options.filter, q);
        // The rest in pages, in write order, from one snapshot: a document written meanwhile
        // would otherwise move past the page boundary and be read twice.
        const std::size_t page = 500;
        q.sql += " AND seq > " + q.add("0") + " ORDER BY seq LIMIT " + std::to_string(page);
        const std::size_t last_param = q.values.size() - 1;

        // The sort stays in Sluice: PostgreSQL orders JSON values otherwise than the filter
        // language's type brackets (booleans, arrays, objects; strings by collation).
        st::find_page result(options);
        c.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", pool_.statement_deadline());
        try {
            for (bool more = true; more;) {
                auto r = c.exec(q.sql, q.values, pool_.statement_deadline());
                if (r.rows() > 0) q.values[last_param] = std::string(r.get(r.rows() - 1, 0));
                bool wanted = true;
                for (int row = 0; row < r.rows() && wanted; ++row) {
                    bj::value doc = parse_json(r.get(row, 1), "stored document");
                    if (options.filter && !options.filter->matches(doc)) continue;
                    wanted = result.offer(std::move(doc.as_object()));
                }
                more = wanted && static_cast<std::size_t>(r.rows()) == page;
            }
            c.exec("COMMIT", pool_.statement_deadline());
        } catch (...) {
            rollback(c);
            throw;
        }
        return result.take();
    }

    postgres_options options_;
    detail::pool pool_;
    std::mutex schema_mutex_;
    std::atomic<bool> schema_ready_{false};
    std::atomic<std::int64_t> last_prune_{0};
};

}  // namespace

std::unique_ptr<store::store> open_postgres(postgres_options options) {
    char* message = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(options.url.c_str(), &message);
    if (parsed == nullptr) {
        std::string why = message ? message : "out of memory";
        PQfreemem(message);
        while (!why.empty() && why.back() == '\n') why.pop_back();
        throw invalid_input(errc::config_error, "store url: " + why);
    }
    PQconninfoFree(parsed);
    auto s = std::make_unique<postgres_store>(std::move(options));
    s->healthy();  // creates the schema now when the server is up; later otherwise
    return s;
}

}  // namespace sluice::pg
