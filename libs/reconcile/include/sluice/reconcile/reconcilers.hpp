#pragma once
/// Reconcilers (DESIGN.md §9, the seed's Sync): the documents of a model checked again and again
/// by user code, and fixed through the normal write path when a check fails.
///
/// Each configured reconciler has a thread in every process that runs reconcilers. It takes the
/// reconciler's lease in the store (so two processes never run one reconciler at once) and keeps
/// renewing it while it lives; a holder that dies stops renewing and its lease expires after
/// `lease_seconds`, when another process takes over. The holder runs every `interval_seconds`:
/// the documents of the model (matching `filter`) whose last sync is older than the interval, or
/// that have none, are checked by each of `checks`, `concurrency` documents at once, each call
/// bounded by its `timeout_ms`. A document whose checks all answer `{ok: true}` is `ok`. Otherwise
/// the failures' errors go to `fix`; a fix answering `{ok: true, patch}` has its patch published
/// as a change to the stages after the API (so devices see it, the writer checks it), and the
/// document is `fixed`; anything else (no fix, a fix not ok, a check or fix that fails or times
/// out, a bad patch) is `failed` with the error. Each result is recorded in the store at once
/// (`last_sync`, `status`, `error`), so a restart resumes where the run was.
#include <sluice/callout/caller.hpp>
#include <sluice/config/config.hpp>
#include <sluice/metrics/metrics.hpp>
#include <sluice/queue/queue.hpp>
#include <sluice/store/store.hpp>

#include <boost/json/object.hpp>

#include <memory>
#include <string>
#include <vector>

namespace sluice::reconcile {

class reconcilers {
public:
    /// The reconcilers of `c`; `holder` names this process in the leases. Throws
    /// `config::config_error` naming a bad check or fix (e.g. an unregistered cpp function).
    reconcilers(const config::config& c, store::store& store, queue::broker& queue, metrics::metrics& metrics, std::string holder);
    ~reconcilers();
    reconcilers(const reconcilers&) = delete;
    reconcilers& operator=(const reconcilers&) = delete;

    void start();
    /// Ends the runs (checks in progress finish, within their timeouts), gives the leases up so
    /// that another process takes over at once, ends the checks' child processes. Idempotent.
    void stop();

private:
    class runner;
    std::vector<std::unique_ptr<runner>> runners_;
};

/// `GET /v1/apps/{app}/reconcilers/{name}`: `{name, interval_seconds, last_run, counts: {ok,
/// fixed, failed}, items: [{id, last_sync, status, error}]}` from what the store holds (times in
/// ms since the epoch; `last_run` null before the first run; `error` null when ok). Throws
/// `not_found` for a reconciler not configured on `app`, `unavailable` when the store is down.
boost::json::object status(const config::config& c, store::store& store, const std::string& app, const std::string& name);

}  // namespace sluice::reconcile
