#pragma once
/// Where documents live (DESIGN.md §1, §2, §6). The writer applies changes through `apply`, which
/// is atomic and idempotent by `op`; the API reads through `get` and `find`. Implementations:
/// SQLite (embedded), PostgreSQL (distributed, later). Thread-safe.
#include <sluice/core/error.hpp>
#include <sluice/json/filter.hpp>
#include <sluice/json/patch.hpp>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <chrono>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sluice::store {

/// Fields Sluice maintains on every document; clients cannot set or patch them (`id` may be given
/// on create).
inline constexpr const char* system_fields[] = {"id", "owner", "version", "created_at", "updated_at", "metadata"};
bool is_system_field(std::string_view name) noexcept;

/// The ordering key of a document, `app/model/id` (`%` and `/` inside a part escaped as %25, %2F):
/// the queues keep changes with one key in order.
std::string ordering_key(std::string_view app, std::string_view model, std::string_view id);

/// A change as the API accepted it: the body of a `writer` queue message (DESIGN.md §8), JSON
/// `{op, event, app, model, id, owner, actor, ts, data | patch}` with event `model_created`,
/// `model_updated` or `model_deleted`; a `model_updated` with `data` replaces the document (`PUT`).
struct write_request {
    enum class kind { create, update, replace, remove };
    std::string op;  ///< idempotency key, assigned once by the API
    kind type = kind::create;
    std::string app, model, id, actor;
    std::string owner;         ///< the document's owner as the API saw it (create: the actor); may be empty
    boost::json::object body;  ///< create, replace: the client's fields (`data`)
    boost::json::array patch;  ///< update: normalised operations (json::patch::to_json())
    std::int64_t ts = 0;       ///< accept time, ms
    /// Not serialized: set by the writer for `access = "owner"` models; the store then refuses a
    /// change by anyone but the document's owner (`forbidden`).
    bool require_owner = false;
    /// Not serialized: set by the writer for a model with a schema. Called with the client's
    /// fields (`client_fields`) of the document a create, update or replace produces, before it
    /// is stored; what it throws (`schema_violation`) is the change's final failure.
    std::function<void(const boost::json::object&)> check_document;

    boost::json::object to_json() const;
    /// Throws `invalid_input` on a malformed message. Also reads the format of earlier versions
    /// (`kind`, `body`) so messages queued before an upgrade are applied.
    static write_request from_json(const boost::json::value& v);
    std::string key() const { return ordering_key(app, model, id); }
};

/// `document` patched. Throws `json::patch_error` (code `patch_failed`) when the patch cannot
/// apply, or leaves something other than a JSON object (a patch of the root to a number, say).
boost::json::object patched(const boost::json::object& document, const json::patch& patch);

/// `document` without the fields Sluice maintains (`system_fields`): what its client wrote.
boost::json::object client_fields(const boost::json::object& document);

/// The event a change of this kind is delivered as: `model_created`, `model_updated` (also a
/// replacement) or `model_deleted`.
const char* event_name(write_request::kind k) noexcept;

/// The result of `apply`: the change envelope (DESIGN.md §2) to publish downstream.
struct applied_change {
    boost::json::object envelope;
    bool duplicate = false;  ///< `op` had been applied before: nothing changed, envelope is the recorded one
};

/// What applying `change` to the stored document `before` (nullopt: there is none) gives: shared
/// by the implementations so that their documents and envelopes are the same for the same input.
/// Throws the final errors of `store::apply` that the document alone decides (`not_found`,
/// `conflict`, `forbidden`, `patch_failed`).
struct change_effect {
    std::optional<boost::json::object> after;  ///< the new document; nullopt for a delete
    std::string owner;                         ///< the document's owner (envelope `owner`)
    std::int64_t version = 0;                  ///< the version this change gives the document
    boost::json::object envelope;              ///< the change envelope (DESIGN.md §2)
};
change_effect compute_change(const write_request& change, const std::optional<boost::json::object>& before);

struct find_options {
    const json::filter* filter = nullptr;
    std::optional<std::string> owner;  ///< only documents of this owner
    std::optional<std::string> id;     ///< only this document
    std::vector<std::pair<std::string, int>> sort;  ///< field, 1 or -1
    std::size_t limit = 100;
    std::size_t offset = 0;
};

class store {
public:
    virtual ~store() = default;
    virtual std::optional<boost::json::object> get(const std::string& app, const std::string& model, const std::string& id) = 0;
    /// Applies atomically, recording `op`. Throws `sluice::error` with code `not_found` (update or
    /// delete of a missing document), `conflict` (create of an existing id), `forbidden` (see
    /// `require_owner`) or `patch_failed`; these are final. Any other failure is thrown as
    /// `sluice::unavailable` ("store"): the store cannot work now.
    applied_change apply(const write_request& change);
    /// A batch in one transaction (one fsync). Each change succeeds or fails on its own: a final
    /// failure (the codes above) is returned in its slot; any other failure is thrown for the
    /// whole batch, which then changed nothing.
    struct outcome {
        std::optional<applied_change> change;
        std::exception_ptr failure;
    };
    virtual std::vector<outcome> apply_batch(const std::vector<write_request>& changes) = 0;
    virtual std::vector<boost::json::object> find(const std::string& app, const std::string& model, const find_options& options) = 0;
    /// What the writer made of the change `op`, recorded in the transaction that applied it or
    /// met its final failure: the envelope, or the failure's code and message (a change that
    /// failed and was later applied, e.g. replayed after a fix, reads as applied). Nothing while
    /// neither is recorded. For `?wait=1` on an API process that does not run the writer.
    struct recorded {
        std::optional<boost::json::object> envelope;
        errc failure = errc::internal;  ///< when there is no envelope
        std::string message;
    };
    virtual std::optional<recorded> recorded_outcome(const std::string& op) = 0;
    /// Records that a stage before the writer refused the change `op` with `refusal`, so that
    /// `recorded_outcome` reports it (the writer never sees the change). Throws `unavailable`.
    virtual void record_refusal(const std::string& op, const sluice::error& refusal) = 0;
    /// Reads one row; false when the database cannot be read.
    virtual bool healthy() = 0;

    // Reconcilers (DESIGN.md §9): one lease per reconciler, and what its runs found. Every call
    // throws `unavailable` when the store cannot work.

    /// Takes the lease `name` for `holder` until `ttl` from now, or extends it when `holder`
    /// holds it; false while another holder's lease runs. The store's clock decides, one clock
    /// for every process sharing the store.
    virtual bool acquire_lease(const std::string& name, const std::string& holder, std::chrono::milliseconds ttl) = 0;
    /// Ends `holder`'s lease `name` now (nothing when another holds it).
    virtual void release_lease(const std::string& name, const std::string& holder) = 0;

    /// A reconciler's latest result on one document.
    struct sync_record {
        std::string id;
        std::int64_t last_sync = 0;  ///< ms since the epoch
        std::string status;          ///< ok | fixed | failed
        std::string error;           ///< why, when not ok
    };
    /// Keeps `records` for reconciler `name` (per document, the latest replaces the one before)
    /// and `last_run` (ms since the epoch) as its last run.
    virtual void record_sync(const std::string& name, std::int64_t last_run, const std::vector<sync_record>& records) = 0;
    struct sync_state {
        std::optional<std::int64_t> last_run;
        std::vector<sync_record> records;  ///< by id
    };
    virtual sync_state read_sync(const std::string& name) = 0;
};

std::unique_ptr<store> open_sqlite(const std::filesystem::path& file);

}  // namespace sluice::store
