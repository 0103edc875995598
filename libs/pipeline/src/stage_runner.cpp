#include <sluice/pipeline/stage_runner.hpp>

#include <spdlog/spdlog.h>

namespace sluice::pipeline {

stage_runner::stage_runner(queue::queue& q, stage_options options, batch_handler handler, metrics::metrics& m)
    : queue_(q), options_(std::move(options)), handler_(std::move(handler)), metrics_(m.stage(options_.name)) {}

stage_runner::~stage_runner() { stop(); }

void stage_runner::start() { thread_ = std::thread([this] { run(); }); }

void stage_runner::stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
}

std::vector<verdict> stage_runner::attempt(const std::vector<queue::message>& batch, bool& ok) {
    auto backoff = options_.first_backoff;
    for (int attempt = 1;; ++attempt) {
        try {
            auto verdicts = handler_(batch);
            ok = verdicts.size() == batch.size();
            if (!ok) throw std::logic_error("stage returned " + std::to_string(verdicts.size()) + " verdicts for " + std::to_string(batch.size()));
            return verdicts;
        } catch (const std::exception& e) {
            metrics_.retried.Increment(static_cast<double>(batch.size()));
            spdlog::warn("stage {}: attempt {} of {} message(s) failed: {}", options_.name, attempt, batch.size(), e.what());
            if (attempt >= options_.max_attempts || stopping_) {
                ok = false;
                return {verdict{false, e.what()}};
            }
            std::this_thread::sleep_for(backoff);
            backoff *= 2;
        }
    }
}

void stage_runner::settle(const std::vector<queue::message>& batch, const std::vector<verdict>& verdicts) {
    std::vector<std::uint64_t> acks;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (verdicts[i].ack) {
            acks.push_back(batch[i].id);
        } else {
            spdlog::error("stage {}: message {} dead-lettered: {}", options_.name, batch[i].id, verdicts[i].reason);
            queue_.dead_letter(options_.queue, batch[i].id, verdicts[i].reason);
            metrics_.dead_lettered.Increment();
        }
    }
    if (!acks.empty()) queue_.ack(options_.queue, acks);
    metrics_.acked.Increment(static_cast<double>(acks.size()));
}

void stage_runner::run() {
    while (!stopping_) {
        auto batch = queue_.fetch(options_.queue, options_.batch, std::chrono::milliseconds(100));
        if (batch.empty()) continue;
        metrics_.consumed.Increment(static_cast<double>(batch.size()));
        metrics_.in_flight.Set(static_cast<double>(batch.size()));
        bool ok = false;
        auto verdicts = attempt(batch, ok);
        if (ok) {
            settle(batch, verdicts);
        } else if (stopping_) {
            break;  // unacked: delivered again after restart
        } else {
            // Isolate the poison: each message alone, in order.
            for (const auto& m : batch) {
                std::vector<queue::message> one{m};
                bool single_ok = false;
                auto v = attempt(one, single_ok);
                settle(one, single_ok ? v : std::vector<verdict>{verdict{false, v.front().reason}});
            }
        }
        metrics_.in_flight.Set(0);
    }
}

}  // namespace sluice::pipeline
