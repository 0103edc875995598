#pragma once
/// The PostgreSQL implementation of Sluice's document store (DESIGN.md §1, §10): the store of the
/// distributed shape, shared by every writer and API process of a deployment.
///
/// Contract: exactly that of `sluice::store::store` (store.hpp), with the same documents and
/// byte-identical envelopes as the SQLite store for the same changes, and `find` answering
/// exactly what the SQLite store answers for the same data. In particular:
/// - `apply_batch` runs in one transaction, and a final failure (`not_found`, `conflict`,
///   `forbidden`, `patch_failed`) undoes and reports only its slot. A document PostgreSQL cannot
///   hold (a `\u0000` in a string, an id too long for the key index) is a final failure of its
///   slot too, code `invalid_input`, since retrying it cannot help (the SQLite store stores it).
///   A batch costs two round trips whatever its size (lock and read its documents and op
///   records; write and record everything and commit), final failures being decided in Sluice
///   before anything is written. When the database alone can tell (such a document, an id
///   created or an op recorded by another process meanwhile) that transaction is rolled back
///   and the batch applied change by change, each change in a savepoint.
/// - Idempotent by `op`: the op's record is written in the same transaction as its change, so a
///   redelivered change is never applied twice, also when two processes apply it at once; it
///   returns the recorded envelope with `duplicate = true`.
/// - Per-document order holds with any number of processes applying concurrently: changes to one
///   document are serialised and each sees the one before it (versions 1, 2, 3, ... without gaps).
/// - Outages: while PostgreSQL cannot be reached or does not answer in time, every call throws
///   `sluice::unavailable` ("store") within about `connect_timeout` / `statement_timeout` and
///   `healthy()` is false; nothing is ever answered wrongly. Broken connections are replaced, so
///   after the server is back the store works again with no intervention. `open_postgres` does
///   not fail when the server is down: the schema is created by the first connection that works.
/// Thread-safe: calls are synchronous and block the calling thread (stage runner threads, the
/// API's blocking pool: never the event loop) for at most the deadlines below.
///
/// Schema (created at open with CREATE ... IF NOT EXISTS under an advisory lock, so several
/// processes may start at once):
/// ```sql
/// documents   (key text PRIMARY KEY,  -- store::ordering_key(app, model, id)
///              app text, model text, id text, owner text, version bigint,
///              seq bigint,      -- write order: a document moves to the end when written, as in SQLite
///              doc text,        -- the document exactly as serialised (member order, 1.0 vs 1 kept)
///              body jsonb)      -- the same document, for queries
///   + index (app, model, owner), index (app, model, seq),
///   + GIN index on body (jsonb_path_ops)
/// applied_ops (op text PRIMARY KEY, envelope text, at bigint)   -- kept a week
/// ```
/// One key column, not (app, model, id): a lookup by key can only be planned on the primary key,
/// whereas a prepared lookup on three columns could be planned on (app, model, seq) while the
/// statistics were stale, and then read every document of the model per lookup.
/// The GIN index serves `find` filters whose top-level conjunction holds an equality or `$in` on
/// a top-level field (`{"status": "open"}`, `{"tag": {"$in": [...]}}`): they become `body @> ...`
/// containment tests, which the planner answers from the index when they are selective. Ranges on
/// numbers are tested in SQL too (`body -> 'f' > ...` after a type check) but read the rows of the
/// app and model; everything else (nested paths, `$or`, `$regex`, ...) and the sort are decided by
/// the filter matcher in Sluice, on rows read in pages of a consistent snapshot.
///
/// Locking, and why not SERIALIZABLE: each change locks its document row (`SELECT ... FOR UPDATE`,
/// READ COMMITTED) before reading it, so a second process changing the same document waits, then
/// reads the committed result of the first: per-document serialisation with waits, not aborts.
/// Creates of one id race on the primary key (`INSERT ... ON CONFLICT DO NOTHING`: the loser waits
/// for the winner, then reports `conflict`), duplicates of one op race on the op's primary key in
/// the same way (the loser rolls its savepoint back and returns the winner's envelope).
/// SERIALIZABLE would also serialise, but by aborting whole batches on any read/write dependency,
/// including false positives of its predicate locks, and every abort redoes a batch; row locks
/// only make writers of the same document wait, which with partitioned queues almost never
/// happens. A batch of several documents first locks those that exist in key order, so two
/// batches sharing documents queue instead of deadlocking on opposite orders (measured: 40 such
/// batch pairs took 71 s of deadlock timeouts before, 0.1 s after); a deadlock that remains
/// (creates racing) is detected by PostgreSQL and the batch run again here (it changed nothing).
#include <sluice/store/store.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace sluice::pg {

struct postgres_options {
    /// A libpq connection URI or key=value string, e.g. `postgresql://sluice@127.0.0.1:5432/sluice`.
    std::string url;
    /// Connections kept open; calls beyond this many at once wait for one (up to `statement_timeout`).
    std::size_t pool_size = 4;
    /// Server-side limit of each statement (`statement_timeout`); the client also gives up on a
    /// server that does not answer within it plus a second, and drops that connection.
    std::chrono::milliseconds statement_timeout{5000};
    /// Limit of establishing one connection (TCP, authentication, session setup).
    std::chrono::milliseconds connect_timeout{2000};
};

/// Opens the store (no I/O error is thrown: see "Outages" above). Throws `invalid_input` (code
/// `config_error`) when `url` cannot be parsed.
std::unique_ptr<store::store> open_postgres(postgres_options options);

}  // namespace sluice::pg
