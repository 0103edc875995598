#include <sluice/metrics/metrics.hpp>

#include <prometheus/text_serializer.h>

namespace sluice::metrics {

namespace p = prometheus;

metrics::metrics()
    : registry_(std::make_shared<p::Registry>()),
      consumed_(p::BuildCounter().Name("sluice_stage_consumed_total").Help("Messages a stage fetched").Register(*registry_)),
      acked_(p::BuildCounter().Name("sluice_stage_acked_total").Help("Messages a stage finished").Register(*registry_)),
      retried_(p::BuildCounter().Name("sluice_stage_retried_total").Help("Message attempts that failed and were retried").Register(*registry_)),
      dead_lettered_(p::BuildCounter().Name("sluice_stage_dead_lettered_total").Help("Messages moved to the dead-letter queue").Register(*registry_)),
      in_flight_(p::BuildGauge().Name("sluice_stage_in_flight").Help("Messages a stage is processing").Register(*registry_)),
      lag_(p::BuildGauge().Name("sluice_stage_lag").Help("Messages waiting in a stage's queue").Register(*registry_)),
      connections_(p::BuildGauge().Name("sluice_transport_connections").Help("Open device connections").Register(*registry_)),
      sent_(p::BuildCounter().Name("sluice_transport_sent_total").Help("Frames written to devices").Register(*registry_)),
      dropped_(p::BuildCounter().Name("sluice_transport_dropped_total").Help("Frames not delivered to a connection").Register(*registry_)),
      reconciler_runs_(p::BuildCounter().Name("sluice_reconciler_runs_total").Help("Runs of a reconciler in this process").Register(*registry_)),
      reconciled_(p::BuildCounter().Name("sluice_reconciler_documents_total").Help("Documents a reconciler checked, by result").Register(*registry_)),
      reconciler_last_run_(p::BuildGauge().Name("sluice_reconciler_last_run_seconds").Help("Start of a reconciler's last run in this process (Unix time)").Register(*registry_)) {}

reconciler_metrics& metrics::reconciler(const std::string& name) {
    std::lock_guard lock(mutex_);
    auto& slot = reconcilers_[name];
    if (!slot) {
        p::Labels l{{"reconciler", name}};
        auto with = [&](const char* status) -> p::Counter& {
            auto labels = l;
            labels.emplace("status", status);
            return reconciled_.Add(labels);
        };
        slot = std::make_unique<reconciler_metrics>(
            reconciler_metrics{reconciler_runs_.Add(l), with("ok"), with("fixed"), with("failed"), reconciler_last_run_.Add(l)});
    }
    return *slot;
}

stage_metrics& metrics::stage(const std::string& name) {
    std::lock_guard lock(mutex_);
    auto& slot = stages_[name];
    if (!slot) {
        p::Labels l{{"stage", name}};
        slot = std::make_unique<stage_metrics>(stage_metrics{consumed_.Add(l), acked_.Add(l), retried_.Add(l),
                                                             dead_lettered_.Add(l), in_flight_.Add(l), lag_.Add(l)});
    }
    return *slot;
}

transport_metrics& metrics::transport(const std::string& name) {
    std::lock_guard lock(mutex_);
    auto& slot = transports_[name];
    if (!slot) {
        p::Labels l{{"transport", name}};
        slot = std::make_unique<transport_metrics>(transport_metrics{connections_.Add(l), sent_.Add(l), dropped_.Add(l)});
    }
    return *slot;
}

void metrics::record_delivery(delivery_record d) {
    std::lock_guard lock(mutex_);
    recent_.push_back(std::move(d));
    if (recent_.size() > recent_capacity) recent_.pop_front();
}

std::vector<delivery_record> metrics::recent_deliveries() const {
    std::lock_guard lock(mutex_);
    return {recent_.begin(), recent_.end()};
}

void metrics::on_scrape(std::function<void()> refresh) {
    std::lock_guard lock(mutex_);
    refreshers_.push_back(std::move(refresh));
}

std::string metrics::scrape() {
    std::vector<std::function<void()>> refreshers;
    {
        std::lock_guard lock(mutex_);
        refreshers = refreshers_;
    }
    for (auto& r : refreshers) r();
    return p::TextSerializer{}.Serialize(registry_->Collect());
}

}  // namespace sluice::metrics
