#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <sluice/amqp/broker.hpp>
#include <sluice/core/error.hpp>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "connection.hpp"
#include "topology.hpp"

namespace sluice::amqp {

namespace {

using namespace detail;
using clock = std::chrono::steady_clock;
using queue::on_durable;
constexpr auto first_backoff = std::chrono::milliseconds(100);
constexpr auto max_backoff = std::chrono::milliseconds(5000);
constexpr int tag_bits = 40;

std::exception_ptr down(const std::string& why) {
    return std::make_exception_ptr(unavailable(backend, why));
}

/// What the broker, its publisher thread and its consumers share.
struct shared_state {
    rabbitmq_options options;
    endpoint where;
    std::atomic<bool> stopping{false};
    std::atomic<std::uint64_t> generation{0};

    std::mutex mutex;
    std::map<const void*, std::string> problems;  // by reporter (publisher, consumers)
    std::unordered_map<std::string, std::int64_t> in_flight;
    std::unordered_map<std::string, std::unordered_set<std::string>> dead_keys;  // per stage
    std::unordered_set<std::string> dead_keys_loaded;
    std::mutex loading;  // one browse of a .dead queue at a time

    void report(const void* who, std::optional<std::string> problem) {
        std::lock_guard lock(mutex);
        if (problem) {
            problems[who] = *problem;
        } else {
            problems.erase(who);
        }
    }

    void count(const std::string& queue, std::int64_t delta) {
        std::lock_guard lock(mutex);
        in_flight[queue] += delta;
    }

    /// Learns the keys of `stage` with an unmarked dead letter, once per process.
    void load_dead_keys(const std::string& stage) {
        std::lock_guard once(loading);
        {
            std::lock_guard lock(mutex);
            if (dead_keys_loaded.count(stage)) return;
        }
        connection c(where, options.timeout, options.heartbeat);
        c.declare(dead_letter_queue(stage), false);
        auto dead = browse(c, dead_letter_queue(stage));
        give_back(c, dead_letter_queue(stage), dead.size(), options.timeout);
        auto keys = unmarked_dead_keys(dead);
        std::lock_guard lock(mutex);
        dead_keys[stage].insert(keys.begin(), keys.end());
        dead_keys_loaded.insert(stage);
    }
};

/// One thread owning the publishing connection: batches every publish (and the settlements'
/// publishes) into one confirm wait; runs small tasks (stats) on its connection.
class publisher {
  public:
    explicit publisher(std::shared_ptr<shared_state> shared) : shared_(std::move(shared)) {
        thread_ = std::thread([this] { run(); });
    }
    ~publisher() { stop(); }

    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        work_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

    void publish(std::vector<wire_message> messages, std::vector<std::string> stages, on_durable done) {
        submit({std::move(messages), std::move(stages), {}, std::move(done)});
    }

    void run_task(std::function<void(connection&)> task, on_durable done) {
        submit({{}, {}, std::move(task), std::move(done)});
    }

  private:
    struct request {
        std::vector<wire_message> messages;
        std::vector<std::string> stages;  // to declare first
        std::function<void(connection&)> task;
        on_durable done;
    };

    void submit(request r) {
        {
            std::lock_guard lock(mutex_);
            if (!stopping_) {
                pending_.push_back(std::move(r));
                work_.notify_one();
                return;
            }
        }
        r.done(down("queue is stopping"));
    }

    void connect() {
        try {
            auto c = std::make_unique<connection>(shared_->where, shared_->options.timeout,
                                                  shared_->options.heartbeat);
            c->confirm_select();
            for (const auto& stage : shared_->options.queues)
                declare_stage(*c, stage, shared_->options);
            declared_.clear();
            declared_.insert(shared_->options.queues.begin(), shared_->options.queues.end());
            conn_ = std::move(c);
            backoff_ = first_backoff;
            shared_->report(this, std::nullopt);
        } catch (const std::exception& e) {
            shared_->report(this, std::string(e.what()));
            next_attempt_ = clock::now() + backoff_;
            backoff_ = std::min(backoff_ * 2, max_backoff);
        }
    }

    void drop(const std::string& why) {
        spdlog::warn("queue: rabbitmq publisher connection lost: {}", why);
        conn_.reset();
        shared_->report(this, "rabbitmq publisher: " + why);
        next_attempt_ = clock::now();  // the first reconnect at once, then backoff
    }

    void process(std::vector<request>& batch) {
        std::vector<std::uint64_t> last(batch.size(), 0);
        std::vector<std::exception_ptr> failed(batch.size());
        std::uint64_t highest = 0;
        try {
            for (std::size_t i = 0; i < batch.size(); ++i) {
                auto& r = batch[i];
                if (r.task) {
                    try {
                        r.task(*conn_);
                    } catch (...) {
                        failed[i] = std::current_exception();
                        if (conn_->broken()) throw;
                    }
                    continue;
                }
                for (const auto& stage : r.stages) {
                    if (declared_.insert(stage).second)
                        declare_stage(*conn_, stage, shared_->options);
                }
                for (const auto& m : r.messages) last[i] = highest = conn_->publish(m);
            }
            if (highest) conn_->wait_confirms(highest, clock::now() + shared_->options.timeout);
        } catch (const std::exception& e) {
            auto why = std::string(e.what());
            if (conn_->broken()) drop(why);
            for (auto& r : batch) r.done(down(why));
            return;
        }
        for (std::size_t i = 0; i < batch.size(); ++i) batch[i].done(failed[i]);
    }

    void run() {
        while (true) {
            std::vector<request> batch;
            {
                std::unique_lock lock(mutex_);
                auto wake =
                    conn_ ? clock::now() + std::chrono::seconds(1) : std::max(next_attempt_, clock::now());
                work_.wait_until(lock, wake, [&] { return stopping_ || !pending_.empty(); });
                if (stopping_ && pending_.empty()) break;
                batch.reserve(pending_.size());
                for (auto& r : pending_) batch.push_back(std::move(r));
                pending_.clear();
            }
            if (!conn_ && clock::now() >= next_attempt_) connect();
            if (!conn_) {
                std::string why;
                {
                    std::lock_guard lock(shared_->mutex);
                    why = shared_->problems.count(this) ? shared_->problems[this] : "rabbitmq unreachable";
                }
                for (auto& r : batch) r.done(down(why));
                continue;
            }
            if (batch.empty()) {
                try {
                    conn_->poll();  // heartbeats
                } catch (const std::exception& e) {
                    drop(e.what());
                }
                continue;
            }
            process(batch);
        }
        conn_.reset();
    }

    std::shared_ptr<shared_state> shared_;
    std::mutex mutex_;
    std::condition_variable work_;
    std::deque<request> pending_;
    bool stopping_ = false;
    std::thread thread_;
    // publisher thread only:
    std::unique_ptr<connection> conn_;
    std::unordered_set<std::string> declared_;
    clock::time_point next_attempt_{};
    std::chrono::milliseconds backoff_ = first_backoff;
};

/// Waits for a completion with a deadline; rethrows what it reported.
class completion {
  public:
    on_durable callback() {
        return [state = state_](std::exception_ptr e) {
            std::lock_guard lock(state->mutex);
            state->failure = e;
            state->done = true;
            state->cv.notify_all();
        };
    }
    std::exception_ptr wait(std::chrono::milliseconds timeout) {
        std::unique_lock lock(state_->mutex);
        if (!state_->cv.wait_for(lock, timeout, [&] { return state_->done; }))
            return down("rabbitmq: no confirm in time");
        return state_->failure;
    }

  private:
    struct state {
        std::mutex mutex;
        std::condition_variable cv;
        bool done = false;
        std::exception_ptr failure;
    };
    std::shared_ptr<state> state_ = std::make_shared<state>();
};

class rabbitmq_consumer final : public queue::consumer {
  public:
    rabbitmq_consumer(std::shared_ptr<shared_state> shared, std::shared_ptr<publisher> pub, std::string queue,
                      std::size_t prefetch)
        : shared_(std::move(shared)),
          publisher_(std::move(pub)),
          queue_(std::move(queue)),
          prefetch_(static_cast<std::uint16_t>(std::clamp<std::size_t>(prefetch, 1, 65535))) {
        start_connecting();
    }

    ~rabbitmq_consumer() override {
        drop_state();
        conn_.reset();  // RabbitMQ puts back what this connection held
        if (connecting_.valid()) connecting_.wait();
        shared_->report(this, std::nullopt);
    }

    std::vector<queue::message> fetch(std::size_t max, std::chrono::milliseconds wait) override {
        std::vector<queue::message> out;
        auto deadline = clock::now() + wait;
        max = std::max<std::size_t>(max, 1);
        while (!shared_->stopping) {
            while (!ready_.empty() && out.size() < max && handed_.size() < prefetch_) {
                handed_.insert(ready_.front().id);
                out.push_back(std::move(ready_.front()));
                ready_.pop_front();
            }
            if (out.size() >= max || (!out.empty() && handed_.size() >= prefetch_)) break;
            // With prefetch_ handed out, keep reading (into ready_, heartbeats) until the deadline.
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
            if (!conn_) {
                if (!out.empty() || left.count() <= 0) break;
                await_connection(std::min(left, std::chrono::milliseconds(100)));
                continue;
            }
            // Wait only for the first message, in slices, so stop() is noticed.
            auto slice = out.empty()
                             ? std::clamp(left, std::chrono::milliseconds(0), std::chrono::milliseconds(100))
                             : std::chrono::milliseconds(0);
            std::optional<received> r;
            try {
                r = conn_->next_delivery(slice);
            } catch (const std::exception& e) {
                lost(e.what());
                continue;
            }
            if (r) {
                accept(std::move(*r));
                continue;
            }
            if (!out.empty() || clock::now() >= deadline) break;
        }
        return out;
    }

    void settle(std::vector<queue::settlement> settlements, on_durable done) override {
        // Every id must belong to the current connection; if one does not, its connection is gone
        // (its messages come again) and the others are put back too: the settlement is atomic.
        bool stale = !conn_;
        for (const auto& s : settlements) stale = stale || !unsettled_.count(s.id);
        if (stale) {
            for (const auto& s : settlements) put_back(s.id);
            done(down("rabbitmq connection lost: the messages come again"));
            return;
        }
        std::vector<wire_message> wire;
        std::vector<std::string> stages;
        std::vector<std::string> marked, killed;
        {
            std::lock_guard lock(shared_->mutex);
            auto& dead_keys = shared_->dead_keys[queue_];
            for (const auto& s : settlements) {
                const auto& m = unsettled_.at(s.id);
                if (s.what == queue::settlement::verdict::ack) {
                    for (const auto& o : s.publish) {
                        wire.push_back(to_wire(o, shared_->options.partitions));
                        stages.push_back(o.queue);
                    }
                    if (!m.key.empty() && dead_keys.count(m.key) &&
                        std::find(marked.begin(), marked.end(), m.key) == marked.end()) {
                        wire.push_back(marker_of(queue_, m.key));
                        marked.push_back(m.key);
                    }
                } else {
                    wire.push_back(dead_letter_of(queue_, m.key, m.headers, m.body, s.reason));
                    if (!m.key.empty()) killed.push_back(m.key);
                }
            }
        }
        if (!wire.empty()) {
            stages.push_back(queue_);  // its .dead queue
            std::sort(stages.begin(), stages.end());
            stages.erase(std::unique(stages.begin(), stages.end()), stages.end());
            completion published;
            publisher_->publish(std::move(wire), std::move(stages), published.callback());
            if (auto failure = published.wait(shared_->options.timeout + std::chrono::seconds(2))) {
                for (const auto& s : settlements) put_back(s.id);
                done(failure);
                return;
            }
        }
        try {
            for (const auto& s : settlements) conn_->ack(tag_of(s.id));
        } catch (const std::exception& e) {
            lost(e.what());
            done(down(std::string("rabbitmq: ack failed, the messages come again: ") + e.what()));
            return;
        }
        {
            std::lock_guard lock(shared_->mutex);
            auto& dead_keys = shared_->dead_keys[queue_];
            for (const auto& k : marked) dead_keys.erase(k);
            for (const auto& k : killed) dead_keys.insert(k);
        }
        for (const auto& s : settlements) finish(s.id);
        done(nullptr);
    }

    void release(const std::vector<std::uint64_t>& ids) override {
        auto sorted = ids;
        std::sort(sorted.begin(), sorted.end());
        for (auto id : sorted) put_back(id);
    }

  private:
    std::uint64_t tag_of(std::uint64_t id) const { return id & ((1ull << tag_bits) - 1); }

    void start_connecting() {
        auto shared = shared_;
        auto queue = queue_;
        auto prefetch = prefetch_;
        connecting_ =
            std::async(std::launch::async, [shared, queue, prefetch]() -> std::unique_ptr<connection> {
                shared->load_dead_keys(queue);
                auto c = std::make_unique<connection>(shared->where, shared->options.timeout,
                                                      shared->options.heartbeat);
                // basic.qos is per consumer (quorum queues have no global qos): the partitions share
                // `prefetch`, and fetch() hands out at most `prefetch` unsettled messages.
                auto partitions = std::max<std::size_t>(shared->options.partitions, 1);
                c->qos(static_cast<std::uint16_t>(
                    std::max<std::size_t>(1, (prefetch + partitions - 1) / partitions)));
                declare_stage(*c, queue, shared->options);
                for (std::size_t i = 0; i < std::max<std::size_t>(shared->options.partitions, 1); ++i)
                    c->consume(partition_queue(queue, i, shared->options.partitions));
                return c;
            });
    }

    /// Takes the connection being made if it is ready within `wait`; starts another after backoff.
    void await_connection(std::chrono::milliseconds wait) {
        if (!connecting_.valid()) {
            if (clock::now() >= next_attempt_) {
                start_connecting();
            } else {
                std::this_thread::sleep_for(std::min(
                    wait,
                    std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - clock::now())));
                return;
            }
        }
        if (connecting_.wait_for(wait) != std::future_status::ready) return;
        try {
            conn_ = connecting_.get();
            generation_ = ++shared_->generation;
            backoff_ = first_backoff;
            shared_->report(this, std::nullopt);
        } catch (const std::exception& e) {
            shared_->report(this, "rabbitmq consumer of " + queue_ + ": " + e.what());
            next_attempt_ = clock::now() + backoff_;
            backoff_ = std::min(backoff_ * 2, max_backoff);
        }
    }

    void lost(const std::string& why) {
        spdlog::warn("queue: rabbitmq consumer of {} lost its connection: {}", queue_, why);
        shared_->report(this, "rabbitmq consumer of " + queue_ + ": " + why);
        drop_state();
        conn_.reset();
        next_attempt_ = clock::now();
    }

    /// Forgets every delivery of the current connection (RabbitMQ redelivers them).
    void drop_state() {
        auto held = static_cast<std::int64_t>(unsettled_.size() + parked_count_);  // ready_ is in unsettled_
        if (held) shared_->count(queue_, -held);
        unsettled_.clear();
        handed_.clear();
        ready_.clear();
        parked_.clear();
        parked_count_ = 0;
        busy_.clear();
    }

    void accept(received r) {
        queue::message m;
        m.id = (generation_ << tag_bits) | r.tag;
        m.key = r.string_header(key_header);
        m.headers.op = r.string_header(op_header);
        m.headers.hops = static_cast<std::uint32_t>(r.int_header(hops_header));
        m.body = std::move(r.body);
        m.redelivered = r.redelivered;
        shared_->count(queue_, 1);
        if (!m.key.empty() && !busy_.insert(m.key).second) {
            parked_[m.key].push_back(std::move(m));  // behind an unsettled one of its key
            ++parked_count_;
            return;
        }
        unsettled_[m.id] = m;
        ready_.push_back(std::move(m));
    }

    /// The message is settled: the next one of its key becomes deliverable.
    void finish(std::uint64_t id) {
        auto it = unsettled_.find(id);
        if (it == unsettled_.end()) return;
        auto key = it->second.key;
        unsettled_.erase(it);
        handed_.erase(id);
        shared_->count(queue_, -1);
        if (key.empty()) return;
        busy_.erase(key);
        auto p = parked_.find(key);
        if (p == parked_.end()) return;
        busy_.insert(key);
        unsettled_[p->second.front().id] = p->second.front();
        ready_.push_back(std::move(p->second.front()));
        p->second.pop_front();
        --parked_count_;
        if (p->second.empty()) parked_.erase(p);
    }

    /// Puts the message back, and the parked ones of its key after it (in order).
    void put_back(std::uint64_t id) {
        auto it = unsettled_.find(id);
        if (it == unsettled_.end() || !conn_) return;
        auto key = it->second.key;
        std::vector<std::uint64_t> ids{id};
        unsettled_.erase(it);
        handed_.erase(id);
        if (!key.empty()) {
            busy_.erase(key);
            if (auto p = parked_.find(key); p != parked_.end()) {
                for (const auto& m : p->second) ids.push_back(m.id);
                parked_count_ -= p->second.size();
                parked_.erase(p);
            }
            // a message of the key handed out by finish() but not yet fetched goes back too
            for (auto r = ready_.begin(); r != ready_.end();) {
                if (r->key == key) {
                    ids.insert(ids.begin() + 1, r->id);
                    unsettled_.erase(r->id);
                    r = ready_.erase(r);
                } else {
                    ++r;
                }
            }
        }
        shared_->count(queue_, -static_cast<std::int64_t>(ids.size()));
        try {
            for (auto i : ids) conn_->reject(tag_of(i), true);
        } catch (const std::exception& e) {
            lost(e.what());  // RabbitMQ puts them back itself
        }
    }

    std::shared_ptr<shared_state> shared_;
    std::shared_ptr<publisher> publisher_;
    std::string queue_;
    std::uint16_t prefetch_;
    std::unique_ptr<connection> conn_;
    std::future<std::unique_ptr<connection>> connecting_;
    std::uint64_t generation_ = 0;
    clock::time_point next_attempt_{};
    std::chrono::milliseconds backoff_ = first_backoff;
    std::deque<queue::message> ready_;                             // deliverable, not yet fetched
    std::unordered_map<std::uint64_t, queue::message> unsettled_;  // handed out (or ready), not settled
    std::unordered_map<std::string, std::deque<queue::message>> parked_;
    std::size_t parked_count_ = 0;
    std::unordered_set<std::string> busy_;      // keys with an unsettled message
    std::unordered_set<std::uint64_t> handed_;  // returned by fetch, not settled (at most prefetch_)
};

class rabbitmq_broker final : public queue::broker {
  public:
    explicit rabbitmq_broker(rabbitmq_options options) : shared_(std::make_shared<shared_state>()) {
        shared_->where = parse_url(options.url);
        options.partitions = std::max<std::size_t>(options.partitions, 1);
        shared_->options = std::move(options);
        publisher_ = std::make_shared<publisher>(shared_);
    }
    ~rabbitmq_broker() override { stop(); }

    void publish(std::vector<queue::outgoing> messages, on_durable done) override {
        std::vector<wire_message> wire;
        std::vector<std::string> stages;
        for (const auto& m : messages) {
            wire.push_back(to_wire(m, shared_->options.partitions));
            stages.push_back(m.queue);
        }
        std::sort(stages.begin(), stages.end());
        stages.erase(std::unique(stages.begin(), stages.end()), stages.end());
        publisher_->publish(std::move(wire), std::move(stages), std::move(done));
    }

    std::unique_ptr<queue::consumer> consume(const std::string& queue, std::size_t prefetch) override {
        return std::make_unique<rabbitmq_consumer>(shared_, publisher_, queue, prefetch);
    }

    queue::queue_stats stats(const std::string& queue) override {
        auto result = std::make_shared<queue::queue_stats>();
        completion done;
        publisher_->run_task(
            [result, queue, shared = shared_](connection& c) {
                // Declares (idempotent) rather than passive declares: a passive one of a missing
                // queue would close the channel.
                std::tie(result->ready, result->dead) = declare_stage(c, queue, shared->options);
            },
            done.callback());
        if (auto failure = done.wait(shared_->options.timeout + std::chrono::seconds(2)))
            std::rethrow_exception(failure);
        std::lock_guard lock(shared_->mutex);
        result->in_flight = static_cast<std::uint64_t>(std::max<std::int64_t>(shared_->in_flight[queue], 0));
        return *result;
    }

    std::optional<std::string> problem() override {
        std::lock_guard lock(shared_->mutex);
        if (shared_->problems.empty()) return std::nullopt;
        return shared_->problems.begin()->second;
    }

    void stop() override {
        shared_->stopping = true;
        publisher_->stop();
    }

  private:
    std::shared_ptr<shared_state> shared_;
    std::shared_ptr<publisher> publisher_;
};

}  // namespace

std::shared_ptr<queue::broker> open_rabbitmq(rabbitmq_options options) {
    return std::make_shared<rabbitmq_broker>(std::move(options));
}

}  // namespace sluice::amqp
