#include <sluice/core/ids.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/json/filter.hpp>
#include <sluice/json/patch.hpp>
#include <sluice/reconcile/reconcilers.hpp>

#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

namespace sluice::reconcile {

namespace bj = boost::json;
using clock = std::chrono::steady_clock;

namespace {

bool is_true(const bj::object& o, const char* key) {
    const auto* v = o.if_contains(key);
    return v && v->is_bool() && v->get_bool();
}

std::string text_of(const bj::value* v) {
    if (v == nullptr || v->is_null()) return {};
    return v->is_string() ? std::string(v->get_string()) : bj::serialize(*v);
}

}  // namespace

class reconcilers::runner {
public:
    runner(const config::config& c, const config::reconciler_config& r, store::store& store, queue::broker& queue,
           metrics::metrics& metrics, const std::string& holder)
        : config_(c), r_(r), store_(store), queue_(queue), metrics_(metrics.reconciler(r.name)), holder_(holder) {
        if (!r.filter.empty()) filter_.emplace(json::filter::compile(parse_json(r.filter, "reconciler filter")));
        const auto key = "reconcilers." + r.name;
        // `concurrency` documents at once need as many children (or connections) per callee.
        auto at_once = [&](config::callout_config callee) {
            callee.instances = std::max(callee.instances, r.concurrency);
            return callee;
        };
        for (std::size_t i = 0; i < r.checks.size(); ++i) {
            checks_.push_back(callout::make_caller(at_once(r.checks[i]), "reconciler " + r.name + " check " + r.checks[i].name,
                                                   key + ".checks[" + std::to_string(i) + "]"));
        }
        if (r.fix) fix_ = callout::make_caller(at_once(*r.fix), "reconciler " + r.name + " fix", key + ".fix");
        // The lease is renewed by the reconciler's own thread every third of it, also while checks
        // run on the workers: a slow check does not let it lapse.
        lease_ = r.lease;
    }

    void start() {
        thread_ = std::thread([this] { run(); });
    }

    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (thread_.joinable()) thread_.join();
        for (auto& c : checks_) c->stop();
        if (fix_) fix_->stop();
    }

private:
    /// Waits up to `d`; false once stopping.
    bool pause(clock::duration d) {
        std::unique_lock lock(mutex_);
        return !wake_.wait_for(lock, d, [this] { return stopping_; });
    }
    bool stopping() {
        std::lock_guard lock(mutex_);
        return stopping_;
    }

    bool hold_lease() {
        try {
            return store_.acquire_lease("reconciler:" + r_.name, holder_, lease_);
        } catch (const std::exception& e) {
            spdlog::warn("reconciler {}: cannot take its lease: {}", r_.name, e.what());
            return false;
        }
    }

    void run() {
        const auto renew_every = lease_ / 3;
        auto next_run = clock::now();
        bool held = false;
        while (!stopping()) {
            const bool holds = hold_lease();
            if (holds != held) spdlog::info("reconciler {}: {} its lease", r_.name, holds ? "holds" : "lost");
            held = holds;
            if (holds && clock::now() >= next_run) {
                next_run = clock::now() + r_.interval;
                try {
                    run_once();
                } catch (const std::exception& e) {  // the store is down: the next run tries again
                    spdlog::warn("reconciler {}: run failed: {}", r_.name, e.what());
                }
                continue;  // renew at once: the run may have taken a while
            }
            if (!pause(std::min<clock::duration>(renew_every, holds ? next_run - clock::now() : clock::duration(renew_every)))) break;
        }
        if (held) {
            try {
                store_.release_lease("reconciler:" + r_.name, holder_);
            } catch (const std::exception& e) {
                spdlog::warn("reconciler {}: cannot give its lease up (it expires): {}", r_.name, e.what());
            }
        }
    }

    /// One run: the due documents, `concurrency` at once, the lease renewed while they run.
    void run_once() {
        const auto started = now_ms();
        metrics_.runs.Increment();
        metrics_.last_run.Set(static_cast<double>(started) / 1000.0);
        const auto state = store_.read_sync(r_.name);
        std::map<std::string, std::int64_t> synced;
        for (const auto& rec : state.records) synced[rec.id] = rec.last_sync;
        const auto due_before = started - std::chrono::duration_cast<std::chrono::milliseconds>(r_.interval).count();
        std::vector<bj::object> due;
        store::find_options options;
        options.filter = filter_ ? &*filter_ : nullptr;
        options.limit = 1000;
        for (options.offset = 0;; options.offset += options.limit) {
            auto page = store_.find(r_.app, r_.model, options);
            for (auto& doc : page) {
                auto it = synced.find(std::string(doc.at("id").as_string()));
                if (it == synced.end() || it->second <= due_before) due.push_back(std::move(doc));
            }
            if (page.size() < options.limit) break;
        }
        store_.record_sync(r_.name, started, {});
        if (due.empty()) return;
        spdlog::info("reconciler {}: {} document(s) due", r_.name, due.size());

        std::atomic<std::size_t> next{0};
        std::atomic<bool> abandon{false};
        std::size_t finished = 0;
        std::mutex done_mutex;
        std::condition_variable done;
        std::vector<std::thread> workers;
        for (std::size_t w = 0; w < std::min(r_.concurrency, due.size()); ++w) {
            workers.emplace_back([&] {
                for (std::size_t i; !abandon && (i = next++) < due.size();) {
                    reconcile(due[i], started);
                }
                std::lock_guard lock(done_mutex);
                ++finished;
                done.notify_all();
            });
        }
        {
            std::unique_lock lock(done_mutex);
            while (!done.wait_for(lock, lease_ / 3, [&] { return finished == workers.size(); })) {
                lock.unlock();
                if (!hold_lease() || stopping()) abandon = true;  // another process may run it now: stop taking documents
                lock.lock();
            }
        }
        for (auto& w : workers) w.join();
    }

    /// Checks one document, fixes it if need be, records the result.
    void reconcile(const bj::object& doc, std::int64_t run) {
        const std::string id(doc.at("id").as_string());
        store::store::sync_record rec{id, 0, "ok", {}};
        bj::array errors;
        for (std::size_t i = 0; i < checks_.size() && rec.status == "ok"; ++i) {
            const auto& name = r_.checks[i].name;
            try {
                auto reply = checks_[i]->call(bj::object{{"reconciler", r_.name}, {"check", name}, {"document", doc}});
                if (!is_true(reply, "ok")) errors.push_back(bj::object{{"check", name}, {"error", text_of(reply.if_contains("error"))}});
            } catch (const std::exception& e) {
                rec = {id, 0, "failed", e.what()};
            }
        }
        if (rec.status == "ok" && !errors.empty()) fix(doc, errors, rec);
        rec.last_sync = now_ms();
        (rec.status == "ok" ? metrics_.ok : rec.status == "fixed" ? metrics_.fixed : metrics_.failed).Increment();
        try {
            store_.record_sync(r_.name, run, {rec});
        } catch (const std::exception& e) {
            spdlog::warn("reconciler {}: cannot record the result for '{}': {}", r_.name, id, e.what());
        }
    }

    void fix(const bj::object& doc, const bj::array& errors, store::store::sync_record& rec) {
        auto summary = [&] {
            std::string s;
            for (const auto& e : errors) {
                s += (s.empty() ? "" : "; ") + std::string("check ") + text_of(e.as_object().if_contains("check")) + ": " +
                     text_of(e.as_object().if_contains("error"));
            }
            return s;
        };
        rec.status = "failed";
        if (!fix_) {
            rec.error = summary();
            return;
        }
        try {
            auto reply = fix_->call(bj::object{{"reconciler", r_.name}, {"document", doc}, {"errors", errors}});
            if (!is_true(reply, "ok")) {
                rec.error = summary() + " (the fix answered not ok" + (reply.contains("error") ? ": " + text_of(reply.if_contains("error")) : "") + ")";
                return;
            }
            if (const auto* patch = reply.if_contains("patch"); patch && !patch->is_null()) apply(doc, *patch);
            rec.status = "fixed";
            rec.error = summary();
        } catch (const std::exception& e) {
            rec.error = summary() + " (fix: " + e.what() + ")";
        }
    }

    /// The fix's patch as a change through the graph, as the API would send it.
    void apply(const bj::object& doc, const bj::value& patch) {
        store::write_request change;
        change.op = make_ulid();
        change.type = store::write_request::kind::update;
        change.app = r_.app;
        change.model = r_.model;
        change.id = doc.at("id").as_string();
        change.actor = "reconciler:" + r_.name;
        change.owner = doc.at("owner").as_string();
        change.ts = now_ms();
        change.patch = json::patch::parse(patch).to_json();  // throws, naming the bad operation
        const auto body = bj::serialize(change.to_json());
        std::vector<queue::outgoing> messages;
        for (const auto& stage : config_.graph.api_next) messages.push_back({stage, change.key(), {change.op, 0}, body});
        queue_.publish_and_wait(std::move(messages));
    }

    const config::config& config_;
    const config::reconciler_config& r_;
    store::store& store_;
    queue::broker& queue_;
    metrics::reconciler_metrics& metrics_;
    std::string holder_;
    std::optional<json::filter> filter_;
    std::vector<std::unique_ptr<callout::caller>> checks_;
    std::unique_ptr<callout::caller> fix_;
    std::chrono::milliseconds lease_{};
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

reconcilers::reconcilers(const config::config& c, store::store& store, queue::broker& queue, metrics::metrics& metrics, std::string holder) {
    for (const auto& [name, r] : c.reconcilers) runners_.push_back(std::make_unique<runner>(c, r, store, queue, metrics, holder));
}

reconcilers::~reconcilers() { stop(); }

void reconcilers::start() {
    for (auto& r : runners_) r->start();
}

void reconcilers::stop() {
    for (auto& r : runners_) r->stop();
}

boost::json::object status(const config::config& c, store::store& store, const std::string& app, const std::string& name) {
    auto it = c.reconcilers.find(name);
    if (it == c.reconcilers.end() || it->second.app != app) throw error(errc::not_found, "app '" + app + "' has no reconciler '" + name + "'");
    const auto& r = it->second;
    auto state = store.read_sync(name);
    std::size_t ok = 0, fixed = 0, failed = 0;
    bj::array items;
    for (const auto& rec : state.records) {
        (rec.status == "ok" ? ok : rec.status == "fixed" ? fixed : failed)++;
        items.push_back(bj::object{{"id", rec.id},
                                   {"last_sync", rec.last_sync},
                                   {"status", rec.status},
                                   {"error", rec.error.empty() ? bj::value(nullptr) : bj::value(rec.error)}});
    }
    return bj::object{{"name", name},
                      {"app", r.app},
                      {"model", r.model},
                      {"interval_seconds", r.interval.count()},
                      {"last_run", state.last_run ? bj::value(*state.last_run) : bj::value(nullptr)},
                      {"counts", bj::object{{"ok", ok}, {"fixed", fixed}, {"failed", failed}}},
                      {"items", std::move(items)}};
}

}  // namespace sluice::reconcile
