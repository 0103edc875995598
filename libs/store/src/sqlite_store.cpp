#include <sluice/core/error.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/json/path.hpp>
#include <sluice/json/value.hpp>
#include <sluice/store/find_page.hpp>
#include <sluice/store/store.hpp>

#include <SQLiteCpp/SQLiteCpp.h>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cmath>
#include <variant>
#include <mutex>

namespace sluice::store {

namespace bj = boost::json;

applied_change store::apply(const write_request& change) {
    auto result = apply_batch({change});
    if (result.front().failure) std::rethrow_exception(result.front().failure);
    return std::move(*result.front().change);
}

namespace {

SQLite::Database open_db(const std::filesystem::path& file) {
    SQLite::Database db(file.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.setBusyTimeout(5000);
    db.exec("PRAGMA journal_mode=WAL");
    db.exec("PRAGMA synchronous=FULL");
    db.exec(
        "CREATE TABLE IF NOT EXISTS documents (app TEXT NOT NULL, model TEXT NOT NULL, id TEXT NOT NULL, "
        "owner TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (app, model, id))");
    db.exec("CREATE INDEX IF NOT EXISTS documents_owner ON documents(app, model, owner)");
    db.exec("CREATE TABLE IF NOT EXISTS applied_ops (op TEXT PRIMARY KEY, envelope TEXT NOT NULL, at INTEGER NOT NULL)");
    // Final failures, for `recorded_outcome` only: a change that fails is not "seen" (a replay
    // after a fix applies it).
    db.exec("CREATE TABLE IF NOT EXISTS failed_ops (op TEXT PRIMARY KEY, code TEXT NOT NULL, message TEXT NOT NULL, at INTEGER NOT NULL)");
    // Reconcilers: their leases, runs and per-document results.
    db.exec("CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL)");
    db.exec("CREATE TABLE IF NOT EXISTS reconciler_runs (name TEXT PRIMARY KEY, last_run INTEGER NOT NULL)");
    db.exec(
        "CREATE TABLE IF NOT EXISTS reconciler_sync (name TEXT NOT NULL, id TEXT NOT NULL, last_sync INTEGER NOT NULL, "
        "status TEXT NOT NULL, error TEXT NOT NULL, PRIMARY KEY (name, id))");
    return db;
}

/// Parameters of pushed-down conditions, in the order of their `?`.
using sql_value = std::variant<std::string, std::int64_t, double>;

void bind_all(SQLite::Statement& q, int& i, const std::vector<sql_value>& params) {
    for (const auto& v : params) std::visit([&](const auto& x) { q.bind(i++, x); }, v);
}

bool pushable_name(std::string_view name) { return !name.empty() && name.find_first_of("\"\\") == std::string_view::npos; }

/// Appends `AND (...)` clauses to `sql` for the filter's necessary conditions that SQL can test
/// on the stored JSON (`json_extract`), so SQLite skips documents that cannot match instead of
/// Sluice parsing them; returns their parameters. Only top-level fields: `json_extract` does not
/// traverse arrays as the filter language does, and a field holding an array stays a candidate
/// (an element may match). The filter itself still decides on every row SQL returns.
std::vector<sql_value> push_down(const json::filter& filter, std::string& sql) {
    std::vector<sql_value> params;
    for (const auto& c : filter.constraints()) {
        auto segments = c.path->segments();
        if (segments.size() != 1 || !pushable_name(segments[0].key)) continue;
        const std::string path = "$.\"" + segments[0].key + "\"";
        std::string clause;
        if (c.type == json::field_constraint::kind::equals) {
            if (c.values.empty() || c.values.size() > 100) continue;
            if (!std::all_of(c.values.begin(), c.values.end(), [](const bj::value& v) { return exact_in_sql(v); }))
                continue;
            clause = "json_extract(body, ?) IN (";
            params.emplace_back(path);
            for (std::size_t k = 0; k < c.values.size(); ++k) {
                clause += k ? ", ?" : "?";
                const auto& v = c.values[k];
                if (v.is_string()) {
                    params.emplace_back(std::string(v.get_string()));
                } else if (v.is_bool()) {
                    params.emplace_back(std::int64_t(v.get_bool() ? 1 : 0));  // json_extract gives true/false as 1/0
                } else if (v.is_int64()) {
                    params.emplace_back(v.get_int64());
                } else {
                    params.emplace_back(v.to_number<double>());
                }
            }
            clause += ")";
        } else {
            const bool low = std::isfinite(c.low) && exact_in_sql(c.low);
            const bool high = std::isfinite(c.high) && exact_in_sql(c.high);
            if (!low && !high) continue;
            clause = "(json_type(body, ?) IN ('integer', 'real')";
            params.emplace_back(path);
            if (low) {
                clause += c.low_open ? " AND json_extract(body, ?) > ?" : " AND json_extract(body, ?) >= ?";
                params.emplace_back(path);
                params.emplace_back(c.low);
            }
            if (high) {
                clause += c.high_open ? " AND json_extract(body, ?) < ?" : " AND json_extract(body, ?) <= ?";
                params.emplace_back(path);
                params.emplace_back(c.high);
            }
            clause += ")";
        }
        sql += " AND (" + clause + " OR json_type(body, ?) = 'array')";
        params.emplace_back(path);
    }
    return params;
}

class sqlite_store final : public store {
public:
    explicit sqlite_store(const std::filesystem::path& file) : write_db_(open_db(file)), read_db_(open_db(file)) {}

    /// A small write of its own (reconcilers), under the writer's lock; a failure is the store's
    /// outage.
    template <class Write>
    auto writing(Write write) {
        std::lock_guard lock(write_mutex_);
        try {
            return write();
        } catch (const std::exception& e) {
            throw unavailable("store", std::string("store write failed: ") + e.what());
        }
    }

    /// A read that fails for want of the database is the store's outage, not the caller's fault.
    template <class Read>
    static auto reading(Read read) {
        try {
            return read();
        } catch (const sluice::error&) {
            throw;
        } catch (const std::exception& e) {
            throw unavailable("store", std::string("store read failed: ") + e.what());
        }
    }

    std::optional<bj::object> get(const std::string& app, const std::string& model, const std::string& id) override {
        return reading([&] {
            std::lock_guard lock(read_mutex_);
            SQLite::Statement q(read_db_, load_sql);
            return load(q, app, model, id);
        });
    }

    std::vector<outcome> apply_batch(const std::vector<write_request>& changes) override {
        try {
            return apply_all(changes);
        } catch (const sluice::error&) {
            throw;
        } catch (const std::exception& e) {
            throw unavailable("store", std::string("store write failed: ") + e.what());
        }
    }

    std::vector<outcome> apply_all(const std::vector<write_request>& changes) {
        std::lock_guard lock(write_mutex_);
        SQLite::Transaction tx(write_db_);
        try {
            std::vector<outcome> out(changes.size());
            for (std::size_t i = 0; i < changes.size(); ++i) {
                write_db_.exec("SAVEPOINT change");
                try {
                    out[i].change = apply_one(changes[i]);
                    write_db_.exec("RELEASE change");
                } catch (const sluice::error& e) {  // final: this change only
                    reset_prepared();
                    write_db_.exec("ROLLBACK TO change");
                    write_db_.exec("RELEASE change");
                    out[i].failure = std::current_exception();
                    auto& failed = prepared(record_failure_,
                                            "INSERT OR REPLACE INTO failed_ops (op, code, message, at) VALUES (?, ?, ?, ?)");
                    failed.bind(1, changes[i].op);
                    failed.bind(2, std::string(to_string(e.kind())));
                    failed.bind(3, std::string(e.what()));
                    failed.bind(4, changes[i].ts);
                    failed.exec();
                }
            }
            prune_applied_ops();
            tx.commit();
            return out;
        } catch (...) {
            reset_prepared();  // a statement left mid-step (e.g. busy) would keep the rollback from ending the transaction
            throw;
        }
    }

    /// Idempotency records only need to outlive redelivery (an unacked message is redelivered at
    /// the next start): keep a week, pruned at most hourly.
    void prune_applied_ops() {
        auto now = now_ms();
        if (now - last_prune_ < 3600 * 1000) return;
        last_prune_ = now;
        auto& prune = prepared(prune_ops_, "DELETE FROM applied_ops WHERE at < ?");
        prune.bind(1, now - std::int64_t(7) * 24 * 3600 * 1000);
        prune.exec();
        auto& prune_failed = prepared(prune_failed_, "DELETE FROM failed_ops WHERE at < ?");
        prune_failed.bind(1, now - std::int64_t(7) * 24 * 3600 * 1000);
        prune_failed.exec();
    }

    applied_change apply_one(const write_request& change) {
        {
            auto& seen = prepared(seen_op_, "SELECT envelope FROM applied_ops WHERE op = ?");
            seen.bind(1, change.op);
            if (seen.executeStep()) {
                auto envelope = parse_json(seen.getColumn(0).getString()).as_object();
                seen.reset();  // no statement left open past the transaction
                return {std::move(envelope), true};
            }
        }
        auto before = load(prepared(load_, load_sql), change.app, change.model, change.id);
        auto effect = compute_change(change, before);  // throws the final errors
        if (effect.after) {
            auto& put = prepared(put_, "INSERT OR REPLACE INTO documents (app, model, id, owner, version, body) VALUES (?, ?, ?, ?, ?, ?)");
            put.bind(1, change.app);
            put.bind(2, change.model);
            put.bind(3, change.id);
            put.bind(4, effect.owner);
            put.bind(5, effect.version);
            put.bind(6, bj::serialize(*effect.after));
            put.exec();
        } else {
            auto& del = prepared(delete_, "DELETE FROM documents WHERE app = ? AND model = ? AND id = ?");
            del.bind(1, change.app);
            del.bind(2, change.model);
            del.bind(3, change.id);
            del.exec();
        }
        auto& envelope = effect.envelope;
        auto& record = prepared(record_op_, "INSERT INTO applied_ops (op, envelope, at) VALUES (?, ?, ?)");
        record.bind(1, change.op);
        record.bind(2, bj::serialize(envelope));
        record.bind(3, change.ts);
        record.exec();
        return {std::move(envelope), false};
    }

    std::vector<bj::object> find(const std::string& app, const std::string& model, const find_options& options) override {
        return reading([&] { return find_unguarded(app, model, options); });
    }

    std::vector<bj::object> find_unguarded(const std::string& app, const std::string& model, const find_options& options) {
        std::string sql = "SELECT body FROM documents WHERE app = ? AND model = ?";
        if (options.owner) sql += " AND owner = ?";
        if (options.id) sql += " AND id = ?";
        std::vector<sql_value> pushed;
        if (options.filter) pushed = push_down(*options.filter, sql);
        sql += " ORDER BY rowid";
        // The sort stays here: SQLite orders JSON values otherwise than the filter language's
        // type brackets (booleans, arrays, objects).
        find_page page(options);
        std::lock_guard lock(read_mutex_);
        SQLite::Statement q(read_db_, sql);
        int i = 1;
        q.bind(i++, app);
        q.bind(i++, model);
        if (options.owner) q.bind(i++, *options.owner);
        if (options.id) q.bind(i++, *options.id);
        bind_all(q, i, pushed);
        while (q.executeStep()) {
            auto doc = parse_json(q.getColumn(0).getString());
            if (options.filter && !options.filter->matches(doc)) continue;
            if (!page.offer(std::move(doc.as_object()))) break;
        }
        return page.take();
    }

    std::optional<recorded> recorded_outcome(const std::string& op) override {
        return reading([&]() -> std::optional<recorded> {
            std::lock_guard lock(read_mutex_);
            SQLite::Statement applied(read_db_, "SELECT envelope FROM applied_ops WHERE op = ?");
            applied.bind(1, op);
            if (applied.executeStep()) return recorded{parse_json(applied.getColumn(0).getString()).as_object(), {}, {}};
            SQLite::Statement failed(read_db_, "SELECT code, message FROM failed_ops WHERE op = ?");
            failed.bind(1, op);
            if (failed.executeStep())
                return recorded{std::nullopt, errc_from_string(failed.getColumn(0).getString()), failed.getColumn(1).getString()};
            return std::nullopt;
        });
    }

    void record_refusal(const std::string& op, const sluice::error& refusal) override {
        std::lock_guard lock(write_mutex_);
        try {
            auto& failed = prepared(record_refusal_, "INSERT OR IGNORE INTO failed_ops (op, code, message, at) VALUES (?, ?, ?, ?)");
            failed.bind(1, op);
            failed.bind(2, std::string(to_string(refusal.kind())));
            failed.bind(3, std::string(refusal.what()));
            failed.bind(4, now_ms());
            failed.exec();
        } catch (const std::exception& e) {
            reset_prepared();
            throw unavailable("store", std::string("store write failed: ") + e.what());
        }
    }

    bool acquire_lease(const std::string& name, const std::string& holder, std::chrono::milliseconds ttl) override {
        return writing([&] {
            const auto now = now_ms();
            SQLite::Statement q(write_db_,
                                "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE "
                                "SET holder = excluded.holder, expires_at = excluded.expires_at "
                                "WHERE leases.holder = excluded.holder OR leases.expires_at <= ?");
            q.bind(1, name);
            q.bind(2, holder);
            q.bind(3, now + ttl.count());
            q.bind(4, now);
            return q.exec() == 1;
        });
    }

    void release_lease(const std::string& name, const std::string& holder) override {
        writing([&] {
            SQLite::Statement q(write_db_, "DELETE FROM leases WHERE name = ? AND holder = ?");
            q.bind(1, name);
            q.bind(2, holder);
            return q.exec();
        });
    }

    void record_sync(const std::string& name, std::int64_t last_run, const std::vector<sync_record>& records) override {
        writing([&] {
            SQLite::Transaction tx(write_db_);
            SQLite::Statement run(write_db_, "INSERT INTO reconciler_runs (name, last_run) VALUES (?, ?) "
                                             "ON CONFLICT (name) DO UPDATE SET last_run = excluded.last_run");
            run.bind(1, name);
            run.bind(2, last_run);
            run.exec();
            SQLite::Statement q(write_db_, "INSERT OR REPLACE INTO reconciler_sync (name, id, last_sync, status, error) VALUES (?, ?, ?, ?, ?)");
            for (const auto& r : records) {
                q.bind(1, name);
                q.bind(2, r.id);
                q.bind(3, r.last_sync);
                q.bind(4, r.status);
                q.bind(5, r.error);
                q.exec();
                q.reset();
            }
            tx.commit();
            return 0;
        });
    }

    sync_state read_sync(const std::string& name) override {
        return reading([&] {
            std::lock_guard lock(read_mutex_);
            sync_state state;
            SQLite::Statement run(read_db_, "SELECT last_run FROM reconciler_runs WHERE name = ?");
            run.bind(1, name);
            if (run.executeStep()) state.last_run = run.getColumn(0).getInt64();
            SQLite::Statement q(read_db_, "SELECT id, last_sync, status, error FROM reconciler_sync WHERE name = ? ORDER BY id");
            q.bind(1, name);
            while (q.executeStep())
                state.records.push_back({q.getColumn(0).getString(), q.getColumn(1).getInt64(), q.getColumn(2).getString(), q.getColumn(3).getString()});
            return state;
        });
    }

    bool healthy() override {
        try {
            std::lock_guard lock(read_mutex_);
            SQLite::Statement q(read_db_, "SELECT count(*) FROM applied_ops WHERE op = ''");
            return q.executeStep();
        } catch (const std::exception&) {
            return false;
        }
    }

private:
    static constexpr const char* load_sql = "SELECT body FROM documents WHERE app = ? AND model = ? AND id = ?";

    static std::optional<bj::object> load(SQLite::Statement& q, const std::string& app, const std::string& model,
                                          const std::string& id) {
        q.bind(1, app);
        q.bind(2, model);
        q.bind(3, id);
        if (!q.executeStep()) return std::nullopt;
        auto doc = parse_json(q.getColumn(0).getString()).as_object();
        q.reset();  // no statement left open past the transaction
        return doc;
    }

    /// The writer's statements are prepared once (preparing costs more than running them) and
    /// reset before each use, also after a failed step. Called with write_mutex_ held.
    SQLite::Statement& prepared(std::unique_ptr<SQLite::Statement>& slot, const char* sql) {
        if (!slot) {
            slot = std::make_unique<SQLite::Statement>(write_db_, sql);
        } else {
            slot->tryReset();
            slot->clearBindings();
        }
        return *slot;
    }

    void reset_prepared() {
        for (auto* slot : {&seen_op_, &load_, &put_, &delete_, &record_op_, &prune_ops_, &record_failure_, &prune_failed_, &record_refusal_}) {
            if (*slot) (*slot)->tryReset();
        }
    }

    std::mutex write_mutex_, read_mutex_;
    std::int64_t last_prune_ = 0;
    SQLite::Database write_db_;
    SQLite::Database read_db_;
    std::unique_ptr<SQLite::Statement> seen_op_, load_, put_, delete_, record_op_, prune_ops_, record_failure_, prune_failed_,
        record_refusal_;
};

}  // namespace

std::unique_ptr<store> open_sqlite(const std::filesystem::path& file) { return std::make_unique<sqlite_store>(file); }

}  // namespace sluice::store
