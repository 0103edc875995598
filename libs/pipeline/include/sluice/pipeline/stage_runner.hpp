#pragma once
/// Runs one stage of the graph: `instances` threads, each with its own consumer (at most
/// `prefetch` unsettled messages) and its own stage instance (DESIGN.md §6, §8).
///
/// For each outcome the runner settles the message in one step: what it forwards is published
/// and the message acked together. A message failing because of itself is retried after an
/// exponential, jittered backoff (`backoff_ms`), set aside while other messages flow (its key stays
/// blocked, so per-document order holds); after `max_attempts` it meets `on_failure`. A reply may
/// name only configured stages; a message past `limits.max_hops` is dead-lettered (`hop limit`).
/// A backend outage pauses the instance (capped backoff, reported to `health`), never dead-letters.
#include <sluice/config/config.hpp>
#include <sluice/core/health.hpp>
#include <sluice/metrics/metrics.hpp>
#include <sluice/pipeline/stage.hpp>
#include <sluice/queue/queue.hpp>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sluice::pipeline {

class stage_runner {
public:
    stage_runner(std::shared_ptr<queue::broker> broker, const config::graph_config& graph, const std::string& stage,
                 std::size_t max_hops, stage_factory factory, metrics::metrics& m, health& h);
    ~stage_runner();
    /// Called (on an instance's thread) for each message settled without going on: dead-lettered
    /// (with the reason) or consumed (`done`, dropped, forwarded to no stage; empty reason). Set
    /// before `start`.
    using abandoned = std::function<void(const queue::message&, const std::string& reason)>;
    void on_abandoned(abandoned callback) { on_abandoned_ = std::move(callback); }
    /// Consumes the queue of this process's instance of the stage (`instance_queue`) instead of
    /// the stage's shared queue. Set before `start`.
    void consume_instance_queue(const std::string& instance) { queue_ = instance_queue(config_.name, instance); }
    void start();
    /// Stops fetching, finishes and settles what is in hand (messages set aside for a retry are
    /// put back), waits for the settlements to be durable, joins. Idempotent.
    void stop();

private:
    struct held;
    void run(std::size_t instance);
    std::optional<std::vector<outcome>> invoke(stage& s, const std::vector<queue::message>& batch);
    bool pause(std::chrono::milliseconds delay);

    std::shared_ptr<queue::broker> broker_;
    const config::graph_config& graph_;
    config::stage_config config_;
    std::size_t max_hops_;
    stage_factory factory_;
    abandoned on_abandoned_;
    std::string queue_;  ///< what the instances consume
    metrics::stage_metrics& metrics_;
    health& health_;
    std::vector<std::thread> threads_;

    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::size_t settling_ = 0;  // settlements submitted, not yet durable
    std::atomic<bool> settle_failed_{false};         // an instance should back off
    std::atomic<bool> settle_failed_before_{false};  // health reports the queue down
};

}  // namespace sluice::pipeline
