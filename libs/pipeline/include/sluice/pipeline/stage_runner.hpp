#pragma once
/// Runs one stage: fetches batches from its queue, hands them to the stage, acks or dead-letters
/// each message by the stage's verdict, and retries failures (DESIGN.md §6, §8).
///
/// A handler that throws failed transiently: the batch is retried in place with exponential
/// backoff (so per-document order holds). After `max_attempts` the batch is split and each
/// message retried alone; one that still fails is dead-lettered, so a poison message never blocks
/// the queue behind it.
#include <sluice/metrics/metrics.hpp>
#include <sluice/queue/queue.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace sluice::pipeline {

struct verdict {
    bool ack = true;     ///< false: dead-letter with `reason`
    std::string reason;
};

using batch_handler = std::function<std::vector<verdict>(const std::vector<queue::message>&)>;

struct stage_options {
    std::string name;   ///< for logs and metrics
    std::string queue;  ///< the queue it consumes
    std::size_t batch = 256;
    int max_attempts = 5;
    std::chrono::milliseconds first_backoff{20};
};

class stage_runner {
public:
    stage_runner(queue::queue& q, stage_options options, batch_handler handler, metrics::metrics& m);
    ~stage_runner();
    void start();
    /// Stops fetching, finishes the batch in hand, joins. Idempotent.
    void stop();

private:
    void run();
    std::vector<verdict> attempt(const std::vector<queue::message>& batch, bool& ok);
    void settle(const std::vector<queue::message>& batch, const std::vector<verdict>& verdicts);

    queue::queue& queue_;
    stage_options options_;
    batch_handler handler_;
    metrics::stage_metrics& metrics_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace sluice::pipeline
