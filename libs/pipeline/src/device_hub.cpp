#include <sluice/core/ids.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/pipeline/device_hub.hpp>

#include <SQLiteCpp/SQLiteCpp.h>
#include <algorithm>
#include <condition_variable>
#include <stdexcept>
#include <thread>
#include <optional>
#include <boost/json/serialize.hpp>

namespace sluice::pipeline {

namespace bj = boost::json;

struct device_hub::log {
    SQLite::Database db;
    std::mutex mutex;
    std::optional<SQLite::Statement> put;  ///< prepared once: it runs for every delivery batch
    explicit log(const std::filesystem::path& file) : db(file.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE) {
        db.setBusyTimeout(5000);
        db.exec("PRAGMA journal_mode=WAL");
        db.exec("PRAGMA synchronous=FULL");
        db.exec("CREATE TABLE IF NOT EXISTS deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, head TEXT NOT NULL, recipients TEXT NOT NULL)");
        db.exec("CREATE TABLE IF NOT EXISTS device_seqs (device TEXT PRIMARY KEY, seq INTEGER NOT NULL)");
        put.emplace(db, "INSERT INTO deliveries (at, head, recipients) VALUES (?, ?, ?)");
    }
};

device_hub::device_hub(const std::filesystem::path& log_file, std::size_t backlog, std::chrono::seconds grace_period)
    : backlog_(backlog), grace_(grace_period), log_(std::make_unique<log>(log_file)) {
    auto now = std::chrono::steady_clock::now();
    {
        SQLite::Statement q(log_->db, "SELECT device, seq FROM device_seqs");
        while (q.executeStep()) {
            auto& d = devices_[q.getColumn(0).getString()];
            d.seq = static_cast<std::uint64_t>(q.getColumn(1).getInt64());
            d.disconnected_since = now;
        }
    }
    SQLite::Statement q(log_->db, "SELECT head, recipients FROM deliveries ORDER BY id");
    while (q.executeStep()) {
        auto head = std::make_shared<const std::string>(q.getColumn(0).getString());
        auto recipients = parse_json(q.getColumn(1).getString());
        for (const auto& r : recipients.as_array()) {
            const auto& pair = r.as_array();
            auto& d = devices_[std::string(pair[0].as_string())];
            auto seq = pair[1].to_number<std::uint64_t>();
            d.seq = std::max(d.seq, seq);
            d.backlog.emplace_back(seq, head);
            if (d.backlog.size() > backlog_) d.backlog.pop_front();
            d.disconnected_since = now;
        }
    }
}

/// Writes detaches to the directory in order, off the caller's thread, and beats for this
/// instance every two seconds (an instance silent for ten is taken for gone). A detach that fails
/// is dropped: the entry then points at this instance until the device attaches elsewhere or this
/// instance stops beating, and frames routed here meanwhile are dropped (the log keeps them).
class device_hub::directory_writer {
public:
    directory_writer(std::shared_ptr<device_directory> directory, std::string instance)
        : directory_(std::move(directory)), instance_(std::move(instance)), thread_([this] { run(); }) {}
    ~directory_writer() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_one();
        thread_.join();
    }
    void detach(std::string device, std::string instance) {
        std::lock_guard lock(mutex_);
        if (pending_.size() >= 100000) return;  // bounded: past it entries go stale (see above)
        pending_.emplace_back(std::move(device), std::move(instance));
        wake_.notify_one();
    }

private:
    void run() {
        std::unique_lock lock(mutex_);
        auto next_beat = std::chrono::steady_clock::now();
        while (true) {
            if (std::chrono::steady_clock::now() >= next_beat) {
                lock.unlock();
                try {
                    directory_->beat(instance_, std::chrono::seconds(10));
                } catch (const std::exception&) {  // the directory is down: locate says so too
                }
                lock.lock();
                next_beat = std::chrono::steady_clock::now() + std::chrono::seconds(2);
            }
            wake_.wait_until(lock, next_beat, [&] { return stopping_ || !pending_.empty(); });
            if (pending_.empty()) {
                if (stopping_) return;  // drained
                continue;
            }
            auto [device, instance] = std::move(pending_.front());
            pending_.pop_front();
            lock.unlock();
            try {
                directory_->detach(device, instance);
            } catch (const std::exception&) {
            }
            lock.lock();
        }
    }

    std::shared_ptr<device_directory> directory_;
    std::string instance_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::pair<std::string, std::string>> pending_;
    bool stopping_ = false;
    std::thread thread_;
};

device_hub::device_hub(shared_streams shared, std::chrono::seconds grace_period)
    : backlog_(0), grace_(grace_period), shared_(std::move(shared)),
      directory_writer_(std::make_unique<directory_writer>(shared_->directory, shared_->instance)) {}

device_hub::~device_hub() = default;

void device_hub::deliver_numbered(const std::vector<numbered_delivery>& batch) {
    std::vector<target> targets;
    std::vector<std::string> gaps;
    {
        std::lock_guard lock(mutex_);
        for (const auto& d : batch) {
            for (const auto& [device, seq] : d.targets) {
                auto it = devices_.find(device);
                if (it == devices_.end()) continue;  // not here (any more): the log has it
                auto& state = it->second;
                if (state.connections.empty()) {
                    if (state.joining > 0) state.seen_joining = std::max(state.seen_joining, seq);
                    continue;
                }
                if (seq <= state.seq) continue;  // sent already (a redelivery, or filled from the log)
                if (seq == state.seq + 1 && !state.gap) {
                    state.seq = seq;
                    for (const auto& c : state.connections) targets.push_back({c, &d.head, seq});
                    continue;
                }
                // Frames of two transport managers crossed: the log has the ones in between.
                if (!state.gap) gaps.push_back(device);
                state.gap = true;
            }
        }
    }
    hand_over(targets, batch.size() > 1);
    for (const auto& device : gaps) fill_gap(device);
}

void device_hub::hand_over(std::vector<target>& targets, bool several_changes) {
    if (!several_changes) {
        for (auto& t : targets) t.to->send(*t.head, t.seq);
        return;
    }
    // Several changes: each connection gets its frames of the batch at once, in order.
    std::unordered_map<connection*, std::size_t> index;
    std::vector<std::pair<std::shared_ptr<connection>, std::vector<std::pair<frame_head, std::uint64_t>>>> grouped;
    for (auto& t : targets) {
        auto [it, added] = index.try_emplace(t.to.get(), grouped.size());
        if (added) grouped.emplace_back(std::move(t.to), std::vector<std::pair<frame_head, std::uint64_t>>{});
        grouped[it->second].second.emplace_back(*t.head, t.seq);
    }
    for (auto& [to, frames] : grouped) to->send_all(std::move(frames));
}

void device_hub::fill_gap(const std::string& device) {
    std::uint64_t from;
    {
        std::lock_guard lock(mutex_);
        from = devices_[device].seq;
    }
    device_log::read_result missed;
    try {
        missed = shared_->log->read(device, from);
    } catch (...) {
        std::lock_guard lock(mutex_);
        devices_[device].gap = false;  // the next frame finds the gap again
        throw;
    }
    std::lock_guard lock(mutex_);
    auto& state = devices_[device];
    state.gap = false;
    for (auto& [seq, head] : missed.frames) {
        if (seq <= state.seq) continue;
        state.seq = seq;
        auto shared_head = std::make_shared<const std::string>(std::move(head));
        for (const auto& c : state.connections) c->send(shared_head, seq);
    }
    // Further back than the backlog reaches: what is gone is gone; go on from the newest.
    state.seq = std::max(state.seq, missed.seq);
}

device_hub::attach_result device_hub::attach_shared(const std::string& device, std::shared_ptr<connection> c,
                                                    std::optional<std::uint64_t> resume_from) {
    {
        std::lock_guard lock(mutex_);
        auto& state = devices_[device];
        ++state.joining;
    }
    auto leave = [&] {
        std::lock_guard lock(mutex_);
        --devices_[device].joining;
    };
    device_log::read_result read;
    try {
        // The directory first: a frame appended after the read below is routed here.
        shared_->directory->attach(device, shared_->instance);
        read = shared_->log->read(device, resume_from);
        while (true) {
            std::unique_lock lock(mutex_);
            auto& state = devices_[device];
            if (state.seen_joining > read.seq) {
                // Frames routed here while reading came before this socket was registered.
                lock.unlock();
                auto more = shared_->log->read(device, read.seq);
                for (auto& f : more.frames) read.frames.push_back(std::move(f));
                read.seq = std::max(read.seq, more.seq);
                continue;
            }
            state.connections.push_back(std::move(c));
            state.disconnected_since.reset();
            state.seq = std::max(state.seq, read.seq);
            if (--state.joining == 0) state.seen_joining = 0;
            break;
        }
    } catch (...) {
        leave();
        throw;
    }
    attach_result result;
    result.seq = read.seq;
    result.resync_required = read.resync_required;
    if (resume_from && !read.resync_required) {
        for (auto& [seq, head] : read.frames) result.replay.emplace_back(seq, std::make_shared<const std::string>(std::move(head)));
    }
    return result;
}

void device_hub::deliver(const std::vector<delivery>& batch) {
    if (shared_) throw std::logic_error("device_hub::deliver: with shared streams the transport manager numbers frames");
    std::vector<std::pair<const delivery*, std::vector<std::uint64_t>>> assigned;
    std::vector<target> targets;
    {
        std::lock_guard lock(mutex_);
        for (const auto& d : batch) {
            std::vector<std::uint64_t> seqs;
            seqs.reserve(d.devices.size());
            const std::string_view identity = frame_identity(*d.head);
            for (const auto& device : d.devices) {
                auto& state = devices_[device];
                if (d.redelivered && std::any_of(state.backlog.begin(), state.backlog.end(), [&](const auto& b) {
                        return frame_identity(*b.second) == identity;
                    })) {
                    seqs.push_back(0);  // had it already
                    continue;
                }
                seqs.push_back(++state.seq);
                state.backlog.emplace_back(state.seq, d.head);
                if (state.backlog.size() > backlog_) state.backlog.pop_front();
                for (const auto& c : state.connections) targets.push_back({c, &d.head, state.seq});
            }
            assigned.emplace_back(&d, std::move(seqs));
        }
    }
    try {
        persist(assigned);
    } catch (...) {
        // Nothing was sent: take the numbers back so the retry reuses them and devices see no gap.
        // (deliver runs on one thread, so these are still the newest entries.)
        std::lock_guard lock(mutex_);
        for (auto it = assigned.rbegin(); it != assigned.rend(); ++it) {
            for (std::size_t i = 0; i < it->first->devices.size(); ++i) {
                if (it->second[i] == 0) continue;
                auto& state = devices_[it->first->devices[i]];
                --state.seq;
                if (!state.backlog.empty() && state.backlog.back().first == state.seq + 1) state.backlog.pop_back();
            }
        }
        throw;
    }
    hand_over(targets, batch.size() > 1);
}

void device_hub::persist(const std::vector<std::pair<const delivery*, std::vector<std::uint64_t>>>& assigned) {
    std::lock_guard lock(log_->mutex);
    SQLite::Transaction tx(log_->db);
    auto& put = *log_->put;
    put.tryReset();  // after a failed step the statement still holds its error
    auto at = now_ms();
    for (const auto& [d, seqs] : assigned) {
        std::string recipients = "[";  // [[device, seq], ...]
        bool first = true;
        for (std::size_t i = 0; i < seqs.size(); ++i) {
            if (seqs[i] == 0) continue;  // skipped: had it already
            if (!first) recipients += ',';
            first = false;
            recipients += '[';
            recipients += bj::serialize(bj::string_view(d->devices[i]));
            recipients += ',';
            recipients += std::to_string(seqs[i]);
            recipients += ']';
        }
        recipients += ']';
        put.bind(1, at);
        put.bind(2, *d->head);
        put.bind(3, recipients);
        put.exec();
        put.reset();
    }
    tx.commit();
    if (std::chrono::steady_clock::now() - last_prune_ > std::chrono::seconds(30)) prune();
}

/// Keeps the log to what a resuming device can still ask for: rows older than two grace periods go,
/// their devices' sequence numbers are kept in device_seqs. Called with the log locked.
void device_hub::prune() {
    last_prune_ = std::chrono::steady_clock::now();
    auto cutoff = now_ms() - 2 * std::chrono::duration_cast<std::chrono::milliseconds>(grace_).count();
    SQLite::Transaction tx(log_->db);
    SQLite::Statement old(log_->db, "SELECT recipients FROM deliveries WHERE at < ?");
    old.bind(1, cutoff);
    std::map<std::string, std::uint64_t> seqs;
    while (old.executeStep()) {
        auto recipients = parse_json(old.getColumn(0).getString());
        for (const auto& r : recipients.as_array()) {
            auto& s = seqs[std::string(r.as_array()[0].as_string())];
            s = std::max(s, r.as_array()[1].to_number<std::uint64_t>());
        }
    }
    SQLite::Statement keep(log_->db, "INSERT INTO device_seqs (device, seq) VALUES (?, ?) ON CONFLICT(device) DO UPDATE SET seq = max(seq, excluded.seq)");
    for (const auto& [device, seq] : seqs) {
        keep.bind(1, device);
        keep.bind(2, static_cast<std::int64_t>(seq));
        keep.exec();
        keep.reset();
    }
    SQLite::Statement drop(log_->db, "DELETE FROM deliveries WHERE at < ?");
    drop.bind(1, cutoff);
    drop.exec();
    tx.commit();
}

device_hub::attach_result device_hub::attach(const std::string& device, std::shared_ptr<connection> c,
                                             std::optional<std::uint64_t> resume_from) {
    if (shared_) return attach_shared(device, std::move(c), resume_from);
    std::lock_guard lock(mutex_);
    auto& state = devices_[device];
    state.connections.push_back(std::move(c));
    state.disconnected_since.reset();
    if (!resume_from) return attach_result{state.seq, false, {}};
    return read_locked(state, *resume_from, state.seq, backlog_);
}

device_hub::attach_result device_hub::read_locked(const device_state& state, std::uint64_t after, std::uint64_t up_to,
                                                  std::size_t max) const {
    attach_result result;
    result.seq = state.seq;
    if (after == state.seq) return result;
    if (after > state.seq || state.backlog.empty() || state.backlog.front().first > after + 1) {
        result.resync_required = true;
        return result;
    }
    for (const auto& [seq, head] : state.backlog) {
        if (seq <= after) continue;
        if (seq > up_to || result.replay.size() >= max) break;
        result.replay.emplace_back(seq, head);
    }
    return result;
}

device_hub::attach_result device_hub::read(const std::string& device, std::uint64_t after, std::uint64_t up_to, std::size_t max) {
    if (shared_) throw std::logic_error("device_hub::read: with shared streams the log holds the frames");
    std::lock_guard lock(mutex_);
    auto it = devices_.find(device);
    if (it == devices_.end()) return attach_result{after, false, {}};
    return read_locked(it->second, after, up_to, max);
}

void device_hub::detach(const std::string& device, const connection* c) {
    std::lock_guard lock(mutex_);
    auto it = devices_.find(device);
    if (it == devices_.end()) return;
    auto& conns = it->second.connections;
    std::erase_if(conns, [c](const auto& x) { return x.get() == c; });
    if (!conns.empty()) return;
    it->second.disconnected_since = std::chrono::steady_clock::now();
    if (!shared_) return;
    // The stream lives in the log: nothing of this device needs keeping here.
    if (it->second.joining == 0) devices_.erase(it);
    directory_writer_->detach(device, shared_->instance);
}

void device_hub::restore(const std::string& device) {
    std::lock_guard lock(mutex_);
    auto& state = devices_[device];
    if (state.connections.empty() && !state.disconnected_since) state.disconnected_since = std::chrono::steady_clock::now();
}

void device_hub::close_device(const std::string& device, std::uint16_t code, const std::string& reason) {
    std::vector<std::shared_ptr<connection>> conns;
    {
        std::lock_guard lock(mutex_);
        auto it = devices_.find(device);
        if (it == devices_.end()) return;
        conns = it->second.connections;
    }
    for (auto& c : conns) c->close(code, reason);
}

std::vector<std::string> device_hub::expire() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> gone;
    auto now = std::chrono::steady_clock::now();
    for (auto it = devices_.begin(); it != devices_.end();) {
        const auto& s = it->second;
        if (s.connections.empty() && s.disconnected_since && now - *s.disconnected_since > grace_) {
            gone.push_back(it->first);
            it = devices_.erase(it);
        } else {
            ++it;
        }
    }
    return gone;
}

}  // namespace sluice::pipeline
