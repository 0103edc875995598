#include <sluice/core/error.hpp>
#include <sluice/pipeline/stage_runner.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

namespace sluice::pipeline {

namespace {

using clock = std::chrono::steady_clock;
constexpr auto max_outage_backoff = std::chrono::milliseconds(5000);

/// Exponential backoff for attempt `n` (1 = first retry), capped, with ±20 % jitter.
std::chrono::milliseconds backoff(const config::stage_config& c, std::size_t n) {
    static thread_local std::minstd_rand random{std::random_device{}()};
    double delay = static_cast<double>(c.first_backoff.count());
    for (std::size_t i = 1; i < n && delay < static_cast<double>(c.max_backoff.count()); ++i) delay *= 2;
    delay = std::min(delay, static_cast<double>(c.max_backoff.count()));
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    return std::chrono::milliseconds(static_cast<std::int64_t>(delay * jitter(random)));
}

}  // namespace

/// A message set aside until its retry is due.
struct stage_runner::held {
    queue::message message;
    clock::time_point due;
};

stage_runner::stage_runner(std::shared_ptr<queue::broker> broker, const config::graph_config& graph, const std::string& stage,
                           std::size_t max_hops, stage_factory factory, metrics::metrics& m, health& h)
    : broker_(std::move(broker)),
      graph_(graph),
      config_(graph.stage(stage)),
      max_hops_(max_hops),
      factory_(std::move(factory)),
      queue_(stage),
      metrics_(m.stage(stage)),
      health_(h) {}

stage_runner::~stage_runner() { stop(); }

void stage_runner::start() {
    for (std::size_t i = 0; i < config_.instances; ++i) threads_.emplace_back([this, i] { run(i); });
}

void stage_runner::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) {
        if (t.joinable()) t.join();
    }
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return settling_ == 0; });
}

bool stage_runner::pause(std::chrono::milliseconds delay) {
    std::unique_lock lock(mutex_);
    return !wake_.wait_for(lock, delay, [&] { return stopping_; });
}

std::optional<std::vector<outcome>> stage_runner::invoke(stage& s, const std::vector<queue::message>& batch) {
    auto delay = std::min(config_.first_backoff, max_outage_backoff);
    const std::string component = "stage " + config_.name;
    std::optional<std::string> reported;  // what this outage was reported as
    while (true) {
        try {
            auto outcomes = s.handle(batch);
            if (outcomes.size() != batch.size())
                throw std::logic_error("stage returned " + std::to_string(outcomes.size()) + " outcomes for " + std::to_string(batch.size()));
            if (reported) health_.clear(*reported);
            return outcomes;
        } catch (const error& e) {
            if (e.category() == error_category::rejected) {
                if (batch.size() == 1) return std::vector<outcome>{outcome::retry(e.what())};
                std::vector<outcome> each;  // find the culprit: one message at a time
                for (const auto& m : batch) {
                    auto one = invoke(s, {m});
                    if (!one) return std::nullopt;
                    each.push_back(std::move(one->front()));
                }
                return each;
            }
            const auto* down = dynamic_cast<const unavailable*>(&e);
            reported = down ? down->backend() : component;
            health_.report(*reported, e.what());
            spdlog::warn("stage {}: {} unavailable, retrying in {} ms: {}", config_.name, down ? down->backend() : "backend",
                         delay.count(), e.what());
        } catch (const std::exception& e) {
            reported = component;
            health_.report(component, e.what());
            spdlog::warn("stage {}: backend failure, retrying in {} ms: {}", config_.name, delay.count(), e.what());
        }
        metrics_.retried.Increment(static_cast<double>(batch.size()));
        if (!pause(delay)) return std::nullopt;
        delay = std::min(delay * 2, max_outage_backoff);
    }
}

void stage_runner::run(std::size_t instance) {
    std::unique_ptr<stage> s;
    try {
        s = factory_(instance);
    } catch (const std::exception& e) {
        spdlog::error("stage {}: instance {} cannot start: {}", config_.name, instance, e.what());
        return;
    }
    auto consumer = broker_->consume(queue_, config_.prefetch);
    std::vector<held> waiting;                               // set aside for a retry, by due time
    std::unordered_map<std::uint64_t, std::size_t> attempts;  // failed attempts per message in hand
    const auto batch_size = std::min(s->batch_size(), config_.prefetch);

    auto policy = [&](const queue::message& m, const std::string& reason) -> std::optional<queue::settlement> {
        switch (config_.on_failure) {
            case config::failure_policy::drop:
                spdlog::warn("stage {}: message {} dropped after {} attempts: {}", config_.name, m.id, config_.max_attempts, reason);
                return queue::settlement{m.id, queue::settlement::verdict::ack, {}, {}};
            case config::failure_policy::forward: {
                queue::settlement st{m.id, queue::settlement::verdict::ack, {}, {}};
                for (const auto& to : config_.next) st.publish.push_back({to, m.key, {m.headers.op, m.headers.hops + 1}, m.body});
                return st;
            }
            case config::failure_policy::dead_letter: break;
        }
        return std::nullopt;
    };
    auto dead = [&](const queue::message& m, const std::string& reason) {
        spdlog::error("stage {}: message {} dead-lettered: {}", config_.name, m.id, reason);
        metrics_.dead_lettered.Increment();
        return queue::settlement{m.id, queue::settlement::verdict::dead_letter, {}, reason};
    };

    auto queue_delay = std::min(config_.first_backoff, max_outage_backoff);
    while (true) {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) break;
        }
        if (settle_failed_.exchange(false)) {  // the queue could not write: give it time
            if (!pause(queue_delay)) break;
            queue_delay = std::min(queue_delay * 2, max_outage_backoff);
        } else {
            queue_delay = std::min(config_.first_backoff, max_outage_backoff);
        }
        auto now = clock::now();
        std::vector<queue::message> batch;
        std::sort(waiting.begin(), waiting.end(), [](const held& a, const held& b) { return a.due < b.due; });
        while (!waiting.empty() && waiting.front().due <= now && batch.size() < batch_size) {
            batch.push_back(std::move(waiting.front().message));
            batch.back().attempt = static_cast<std::uint32_t>(attempts[batch.back().id] + 1);
            waiting.erase(waiting.begin());
        }
        if (batch.empty()) {
            auto wait = std::chrono::milliseconds(100);
            if (!waiting.empty())
                wait = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(waiting.front().due - now),
                                  std::chrono::milliseconds(1), wait);
            batch = consumer->fetch(batch_size, wait);
            if (batch.empty()) continue;
            metrics_.consumed.Increment(static_cast<double>(batch.size()));
        }
        metrics_.in_flight.Increment(static_cast<double>(batch.size()));
        auto outcomes = invoke(*s, batch);
        if (!outcomes) {  // stopping during an outage: these come back after a restart
            std::vector<std::uint64_t> ids;
            for (const auto& m : batch) ids.push_back(m.id);
            consumer->release(ids);
            metrics_.in_flight.Decrement(static_cast<double>(batch.size()));
            break;
        }
        std::vector<queue::settlement> settlements;
        std::vector<std::function<void()>> settled_callbacks;
        std::size_t acked = 0;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            auto& m = batch[i];
            auto& o = (*outcomes)[i];
            std::optional<queue::settlement> st;
            switch (o.what) {
                case outcome::action::forward: {
                    st = queue::settlement{m.id, queue::settlement::verdict::ack, {}, {}};
                    for (auto& e : o.messages) {
                        const auto& targets = e.to.empty() ? config_.next : e.to;
                        for (const auto& to : targets) {
                            if (!graph_.has(to)) {
                                st = dead(m, "names unknown stage '" + to + "'");
                                break;
                            }
                            if (m.headers.hops + 1 > max_hops_) {
                                st = dead(m, "hop limit");
                                break;
                            }
                            st->publish.push_back({e.instance.empty() ? to : instance_queue(to, e.instance),
                                                   e.key.empty() ? m.key : e.key, {m.headers.op, m.headers.hops + 1}, e.body});
                        }
                        if (st->what == queue::settlement::verdict::dead_letter) break;
                    }
                    break;
                }
                case outcome::action::done: st = queue::settlement{m.id, queue::settlement::verdict::ack, {}, {}}; break;
                case outcome::action::dead_letter: st = dead(m, o.reason); break;
                case outcome::action::retry: {
                    auto n = ++attempts[m.id];
                    metrics_.retried.Increment();
                    if (n >= config_.max_attempts) {
                        st = policy(m, o.reason);
                        if (!st) st = dead(m, o.reason + " (after " + std::to_string(n) + " attempts)");
                        break;
                    }
                    auto delay = o.retry_after.count() > 0 ? std::min<std::chrono::milliseconds>(o.retry_after, std::chrono::hours(1)) : backoff(config_, n);
                    spdlog::warn("stage {}: message {} attempt {} failed, retrying in {} ms: {}", config_.name, m.id, n,
                                 delay.count(), o.reason);
                    waiting.push_back({std::move(m), clock::now() + delay});
                    break;
                }
            }
            if (!st) continue;
            attempts.erase(m.id);
            if (o.on_settled) settled_callbacks.push_back(std::move(o.on_settled));
            if (st->what == queue::settlement::verdict::ack) ++acked;
            if (on_abandoned_ && (st->what == queue::settlement::verdict::dead_letter || st->publish.empty()))
                on_abandoned_(m, st->reason);
            settlements.push_back(std::move(*st));
        }
        metrics_.in_flight.Decrement(static_cast<double>(batch.size()));
        if (settlements.empty()) continue;
        {
            std::lock_guard lock(mutex_);
            ++settling_;
        }
        consumer->settle(std::move(settlements), [this, acked, callbacks = std::move(settled_callbacks)](std::exception_ptr failure) {
            if (failure) {
                try {
                    std::rethrow_exception(failure);
                } catch (const std::exception& e) {
                    settle_failed_ = true;
                    settle_failed_before_ = true;
                    health_.report("queue", e.what());
                    spdlog::warn("stage {}: settlement failed, the messages come again: {}", config_.name, e.what());
                }
            } else {
                for (const auto& settled : callbacks) settled();
                metrics_.acked.Increment(static_cast<double>(acked));
                if (settle_failed_before_.exchange(false)) health_.clear("queue");
            }
            std::lock_guard lock(mutex_);
            --settling_;
            wake_.notify_all();
        });
    }
    std::vector<std::uint64_t> back;
    for (const auto& h : waiting) back.push_back(h.message.id);
    consumer->release(back);
    s->stop();
}

}  // namespace sluice::pipeline
