#pragma once
/// Prometheus metrics (DESIGN.md §9): per stage consumed, acked, retried, dead-lettered, in-flight
/// and lag; per transport connections, sent and dropped; per reconciler runs, documents by result
/// and the last run. Served as text by `/metrics`.
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sluice::metrics {

struct stage_metrics {
    prometheus::Counter& consumed;
    prometheus::Counter& acked;
    prometheus::Counter& retried;
    prometheus::Counter& dead_lettered;
    prometheus::Gauge& in_flight;
    prometheus::Gauge& lag;  ///< messages waiting in the stage's queue
};

struct transport_metrics {
    prometheus::Gauge& connections;
    prometheus::Counter& sent;
    prometheus::Counter& dropped;  ///< frames not delivered (socket closed as too slow, send failed)
};

/// Per reconciler (DESIGN.md §9).
struct reconciler_metrics {
    prometheus::Counter& runs;
    prometheus::Counter& ok;
    prometheus::Counter& fixed;
    prometheus::Counter& failed;
    prometheus::Gauge& last_run;  ///< seconds since the epoch of the last run's start
};

/// A change delivered to devices, for the live page's feed (`/ui`).
struct delivery_record {
    std::int64_t at_ms = 0;
    std::string event, app, model, id, op;
    std::size_t devices = 0;
};

class metrics {
public:
    metrics();
    stage_metrics& stage(const std::string& name);
    transport_metrics& transport(const std::string& name);
    reconciler_metrics& reconciler(const std::string& name);
    /// Keeps the last `recent_capacity` deliveries (thread-safe).
    void record_delivery(delivery_record d);
    std::vector<delivery_record> recent_deliveries() const;
    static constexpr std::size_t recent_capacity = 50;

    /// Runs before each scrape (to refresh gauges such as lag).
    void on_scrape(std::function<void()> refresh);
    /// The Prometheus text exposition of every metric.
    std::string scrape();

private:
    std::shared_ptr<prometheus::Registry> registry_;
    prometheus::Family<prometheus::Counter>& consumed_;
    prometheus::Family<prometheus::Counter>& acked_;
    prometheus::Family<prometheus::Counter>& retried_;
    prometheus::Family<prometheus::Counter>& dead_lettered_;
    prometheus::Family<prometheus::Gauge>& in_flight_;
    prometheus::Family<prometheus::Gauge>& lag_;
    prometheus::Family<prometheus::Gauge>& connections_;
    prometheus::Family<prometheus::Counter>& sent_;
    prometheus::Family<prometheus::Counter>& dropped_;
    prometheus::Family<prometheus::Counter>& reconciler_runs_;
    prometheus::Family<prometheus::Counter>& reconciled_;
    prometheus::Family<prometheus::Gauge>& reconciler_last_run_;
    mutable std::mutex mutex_;
    std::deque<delivery_record> recent_;
    std::map<std::string, std::unique_ptr<stage_metrics>> stages_;
    std::map<std::string, std::unique_ptr<transport_metrics>> transports_;
    std::map<std::string, std::unique_ptr<reconciler_metrics>> reconcilers_;
    std::vector<std::function<void()>> refreshers_;
};

}  // namespace sluice::metrics
