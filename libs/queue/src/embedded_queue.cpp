#include <sluice/core/error.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/queue/queue.hpp>

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace sluice::queue {

void broker::publish_and_wait(std::vector<outgoing> messages) {
    std::promise<void> durable;
    auto result = durable.get_future();
    publish(std::move(messages), [&durable](std::exception_ptr e) {
        if (e) {
            durable.set_exception(e);
        } else {
            durable.set_value();
        }
    });
    result.get();
}

namespace {

constexpr const char* backend = "queue";

bool has_column(SQLite::Database& db, const char* column) {
    SQLite::Statement q(db, "SELECT 1 FROM pragma_table_info('messages') WHERE name = ?");
    q.bind(1, column);
    return q.executeStep();
}

/// Opens (creating or upgrading) a queue file. Files of earlier versions lack key, op, hops,
/// dead_at and overtaken: their messages keep working with no key (no order constraint).
SQLite::Database open_file(const std::string& file, bool create) {
    if (!create && !std::filesystem::exists(file)) throw error(errc::not_found, "no queue database at " + file);
    SQLite::Database db(file, SQLite::OPEN_READWRITE | (create ? SQLite::OPEN_CREATE : 0));
    db.setBusyTimeout(5000);
    db.exec("PRAGMA journal_mode=WAL");
    db.exec("PRAGMA synchronous=FULL");
    db.exec(
        "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, "
        "body BLOB NOT NULL, dead INTEGER NOT NULL DEFAULT 0, reason TEXT, replay INTEGER NOT NULL DEFAULT 0)");
    if (!has_column(db, "key")) {
        SQLite::Transaction tx(db);
        db.exec("ALTER TABLE messages ADD COLUMN key TEXT NOT NULL DEFAULT ''");
        db.exec("ALTER TABLE messages ADD COLUMN op TEXT NOT NULL DEFAULT ''");
        db.exec("ALTER TABLE messages ADD COLUMN hops INTEGER NOT NULL DEFAULT 0");
        db.exec("ALTER TABLE messages ADD COLUMN dead_at INTEGER");
        db.exec("ALTER TABLE messages ADD COLUMN overtaken INTEGER NOT NULL DEFAULT 0");
        tx.commit();
    }
    db.exec("CREATE INDEX IF NOT EXISTS messages_queue ON messages(queue, dead, id)");
    db.exec("CREATE INDEX IF NOT EXISTS messages_replay ON messages(replay) WHERE replay = 1");
    return db;
}

/// A message as the queue holds it: the body may have been left in the file (memory budget).
struct entry {
    std::uint64_t id = 0;
    std::string key;
    headers hdr;
    std::string body;
    bool redelivered = false;
    bool in_memory = true;  ///< false: `body` is empty, read it from the file
};

struct queue_state {
    std::deque<entry> ready;
    /// Per key, messages behind an unsettled one of the same key, in order.
    std::unordered_map<std::string, std::deque<entry>> parked;
    std::unordered_set<std::string> busy;  ///< keys with an unsettled message
    std::uint64_t parked_count = 0;
    std::uint64_t in_flight = 0;
    std::uint64_t dead = 0;
    std::uint64_t size() const { return ready.size() + parked_count; }
};

class embedded_broker;

class embedded_consumer final : public consumer {
public:
    embedded_consumer(std::shared_ptr<embedded_broker> broker, std::string queue, std::size_t prefetch)
        : broker_(std::move(broker)), queue_(std::move(queue)), prefetch_(prefetch) {}
    ~embedded_consumer() override;

    std::vector<message> fetch(std::size_t max, std::chrono::milliseconds wait) override;
    void settle(std::vector<settlement> settlements, on_durable done) override;
    void release(const std::vector<std::uint64_t>& ids) override;

private:
    std::shared_ptr<embedded_broker> broker_;
    std::string queue_;
    std::size_t prefetch_;
    std::unordered_map<std::uint64_t, entry> unsettled_;  // bodies dropped: kept only for putting back
    std::unique_ptr<SQLite::Database> reader_;            // bodies left in the file
};

class embedded_broker final : public broker, public std::enable_shared_from_this<embedded_broker> {
public:
    embedded_broker(const std::string& file, embedded_options options)
        : file_(file), options_(options), db_(open_file(file, true)) {
        load();
        committer_ = std::thread([this] { commit_loop(); });
    }

    ~embedded_broker() override { stop(); }

    void publish(std::vector<outgoing> messages, on_durable done) override {
        {
            std::lock_guard lock(mutex_);
            if (!stopping_) {
                pending_.push_back({std::move(messages), {}, std::move(done)});
                work_.notify_one();
                return;
            }
        }
        done(std::make_exception_ptr(unavailable(backend, "queue is stopping")));
    }

    std::unique_ptr<consumer> consume(const std::string& queue, std::size_t prefetch) override {
        return std::make_unique<embedded_consumer>(shared_from_this(), queue, std::max<std::size_t>(prefetch, 1));
    }

    queue_stats stats(const std::string& name) override {
        std::lock_guard lock(mutex_);
        const auto& s = state_[name];
        return {s.size(), s.in_flight, s.dead};
    }

    std::optional<std::string> problem() override {
        std::lock_guard lock(mutex_);
        return problem_;
    }

    void stop() override {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) return;
            stopping_ = true;
        }
        work_.notify_all();
        ready_.notify_all();
        if (committer_.joinable()) committer_.join();
    }

    // ----- for consumers (called with no lock held) -----

    /// Takes up to `max` deliverable messages of `name`, waiting at most `wait` for one.
    std::vector<entry> take(const std::string& name, std::size_t max, std::chrono::milliseconds wait) {
        std::unique_lock lock(mutex_);
        auto& s = state_[name];
        std::vector<entry> out;
        auto deadline = std::chrono::steady_clock::now() + wait;
        while (true) {
            while (!s.ready.empty() && out.size() < max) {
                entry e = std::move(s.ready.front());
                s.ready.pop_front();
                if (!e.key.empty() && !s.busy.insert(e.key).second) {
                    s.parked[e.key].push_back(std::move(e));  // behind an unsettled one of its key
                    ++s.parked_count;
                    continue;
                }
                if (e.in_memory) memory_bytes_ -= e.body.size();
                out.push_back(std::move(e));
            }
            if (!out.empty() || stopping_) break;
            if (ready_.wait_until(lock, deadline) == std::cv_status::timeout) break;
        }
        s.in_flight += out.size();
        return out;
    }

    struct settling {
        std::vector<settlement> settlements;
        std::vector<entry> entries;  // the settled messages, to put back if the transaction fails
        std::string queue;
        on_durable done;
    };

    void submit(settling work) {
        std::unique_lock lock(mutex_);
        if (committer_done_) {
            lock.unlock();
            put_back(work.queue, std::move(work.entries));
            work.done(std::make_exception_ptr(unavailable(backend, "queue is stopped")));
            return;
        }
        pending_.push_back({{}, std::move(work), {}});
        work_.notify_one();
    }

    /// Unsettled messages go back to the front of their queue, in order, marked redelivered.
    void put_back(const std::string& name, std::vector<entry> entries) {
        std::lock_guard lock(mutex_);
        auto& s = state_[name];
        std::sort(entries.begin(), entries.end(), [](const entry& a, const entry& b) { return a.id > b.id; });
        for (auto& e : entries) {
            release_key(s, e.key);
            e.redelivered = true;
            s.ready.push_front(std::move(e));
        }
        s.in_flight -= std::min<std::uint64_t>(s.in_flight, entries.size());
        ready_.notify_all();
    }

    const std::string& file() const { return file_; }

private:
    struct pending {
        std::vector<outgoing> publish;  // a plain publish ...
        settling settle;                // ... or a settlement (settle.done set)
        on_durable done;
    };

    /// The next message of `key` (if one is parked) becomes deliverable. Called locked.
    void release_key(queue_state& s, const std::string& key) {
        if (key.empty()) return;
        s.busy.erase(key);
        auto it = s.parked.find(key);
        if (it == s.parked.end()) return;
        s.ready.push_front(std::move(it->second.front()));
        it->second.pop_front();
        --s.parked_count;
        if (it->second.empty()) s.parked.erase(it);
    }

    /// Keeps the body in memory while the budget allows. Called locked.
    void admit(queue_state& s, entry e, bool front = false) {
        if (memory_bytes_ + e.body.size() > options_.memory_budget_bytes) {
            e.in_memory = false;
            e.body = std::string();
        } else {
            memory_bytes_ += e.body.size();
        }
        if (front) {
            s.ready.push_front(std::move(e));
        } else {
            s.ready.push_back(std::move(e));
        }
    }

    void load() {
        db_.exec("UPDATE messages SET dead = 0, replay = 0, reason = NULL WHERE replay = 1 AND dead = 1 AND overtaken = 0");
        db_.exec("UPDATE messages SET replay = 0 WHERE replay = 1");
        SQLite::Statement q(db_, "SELECT id, queue, key, op, hops, dead, length(body) FROM messages ORDER BY id");
        std::vector<std::uint64_t> left_in_file;
        while (q.executeStep()) {
            std::string name = q.getColumn(1).getString();
            auto& s = state_[name];
            if (q.getColumn(5).getInt()) {
                ++s.dead;
                std::string key = q.getColumn(2).getString();
                if (!key.empty()) dead_keys_.insert(name + '\n' + key);
                continue;
            }
            entry e{static_cast<std::uint64_t>(q.getColumn(0).getInt64()), q.getColumn(2).getString(),
                    {q.getColumn(3).getString(), static_cast<std::uint32_t>(q.getColumn(4).getInt())}, {}, true, false};
            auto size = static_cast<std::size_t>(q.getColumn(6).getInt64());
            if (memory_bytes_ + size <= options_.memory_budget_bytes) {
                memory_bytes_ += size;
                e.in_memory = true;  // read below
            }
            s.ready.push_back(std::move(e));
        }
        SQLite::Statement body(db_, "SELECT body FROM messages WHERE id = ?");
        for (auto& [name, s] : state_) {
            for (auto& e : s.ready) {
                if (!e.in_memory) continue;
                body.bind(1, static_cast<std::int64_t>(e.id));
                if (body.executeStep()) e.body = body.getColumn(0).getString();
                body.reset();
            }
        }
    }

    void commit_loop() {
        while (true) {
            std::vector<pending> batch;
            {
                std::unique_lock lock(mutex_);
                work_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_ || !pending_.empty(); });
                if (stopping_ && pending_.empty()) break;
                batch.swap(pending_);
            }
            if (std::chrono::steady_clock::now() - last_replay_check_ > std::chrono::seconds(1)) {
                last_replay_check_ = std::chrono::steady_clock::now();
                take_replays();
            }
            if (batch.empty()) continue;
            commit(batch);
        }
        std::lock_guard lock(mutex_);
        committer_done_ = true;
    }

    std::uint64_t insert(const outgoing& m) {
        insert_.bind(1, m.queue);
        insert_.bind(2, m.body.data(), static_cast<int>(m.body.size()));
        insert_.bind(3, m.key);
        insert_.bind(4, m.headers.op);
        insert_.bind(5, static_cast<std::int64_t>(m.headers.hops));
        insert_.exec();
        insert_.reset();
        return static_cast<std::uint64_t>(db_.getLastInsertRowid());
    }

    void commit(std::vector<pending>& batch) {
        std::exception_ptr failure;
        std::vector<std::vector<std::uint64_t>> ids(batch.size());  // per pending, ids of what it published
        std::vector<std::pair<std::string, std::uint64_t>> overtakes;
        try {
            SQLite::Transaction tx(db_);
            auto at = now_ms();
            for (std::size_t i = 0; i < batch.size(); ++i) {
                auto& p = batch[i];
                for (const auto& m : p.publish) ids[i].push_back(insert(m));
                if (!p.settle.done) continue;
                std::size_t k = 0;
                for (const auto& s : p.settle.settlements) {
                    const auto& e = p.settle.entries[k++];
                    if (s.what == settlement::verdict::ack) {
                        for (const auto& m : s.publish) ids[i].push_back(insert(m));
                        remove_.bind(1, static_cast<std::int64_t>(s.id));
                        remove_.exec();
                        remove_.reset();
                        if (!e.key.empty() && dead_keys_.count(p.settle.queue + '\n' + e.key)) {
                            overtake_.bind(1, p.settle.queue);
                            overtake_.bind(2, e.key);
                            overtake_.bind(3, static_cast<std::int64_t>(s.id));
                            overtake_.exec();
                            overtake_.reset();
                        }
                    } else {
                        kill_.bind(1, s.reason);
                        kill_.bind(2, at);
                        kill_.bind(3, static_cast<std::int64_t>(s.id));
                        kill_.exec();
                        kill_.reset();
                    }
                }
            }
            tx.commit();
        } catch (const std::exception& e) {
            insert_.tryReset();
            remove_.tryReset();
            kill_.tryReset();
            overtake_.tryReset();
            failure = std::make_exception_ptr(unavailable(backend, std::string("queue write failed: ") + e.what()));
            std::lock_guard lock(mutex_);
            problem_ = std::string("cannot write ") + file_ + ": " + e.what();
        }
        if (!failure) {
            std::lock_guard lock(mutex_);
            problem_.reset();
            for (std::size_t i = 0; i < batch.size(); ++i) {
                auto& p = batch[i];
                std::size_t next_id = 0;
                auto enqueue = [&](std::vector<outgoing>& messages) {
                    for (auto& m : messages) {
                        admit(state_[m.queue], entry{ids[i][next_id++], std::move(m.key), std::move(m.headers), std::move(m.body), false});
                    }
                };
                enqueue(p.publish);
                if (!p.settle.done) continue;
                auto& s = state_[p.settle.queue];
                std::size_t k = 0;
                for (auto& st : p.settle.settlements) {
                    const auto& e = p.settle.entries[k++];
                    if (st.what == settlement::verdict::ack) {
                        enqueue(st.publish);
                    } else {
                        ++s.dead;
                        if (!e.key.empty()) dead_keys_.insert(p.settle.queue + '\n' + e.key);
                    }
                    release_key(s, e.key);
                }
                s.in_flight -= std::min<std::uint64_t>(s.in_flight, p.settle.settlements.size());
            }
        }
        ready_.notify_all();
        for (auto& p : batch) {
            if (p.settle.done) {
                if (failure) put_back(p.settle.queue, std::move(p.settle.entries));
                p.settle.done(failure);
            } else {
                p.done(failure);
            }
        }
    }

    /// Dead letters another process marked for replay go back at the end of their queues, unless a
    /// newer message of their key is waiting or was settled since (then they stay dead).
    void take_replays() {
        try {
            std::vector<std::pair<std::string, entry>> taken;
            SQLite::Transaction tx(db_);
            SQLite::Statement q(db_, "SELECT id, queue, key, op, hops, body FROM messages WHERE replay = 1 ORDER BY id");
            while (q.executeStep()) {
                taken.push_back({q.getColumn(1).getString(),
                                 entry{static_cast<std::uint64_t>(q.getColumn(0).getInt64()), q.getColumn(2).getString(),
                                       {q.getColumn(3).getString(), static_cast<std::uint32_t>(q.getColumn(4).getInt())},
                                       q.getColumn(5).getString(), true}});
            }
            if (taken.empty()) return;
            std::lock_guard lock(mutex_);
            SQLite::Statement revive(db_, "UPDATE messages SET dead = 0, replay = 0, reason = NULL WHERE id = ? AND overtaken = 0");
            SQLite::Statement refuse(db_, "UPDATE messages SET replay = 0, overtaken = 1 WHERE id = ?");
            std::vector<std::pair<std::string, entry>> revived;
            for (auto& [name, e] : taken) {
                auto& s = state_[name];
                bool newer_waiting = !e.key.empty() && (s.busy.count(e.key) || s.parked.count(e.key) ||
                                                        std::any_of(s.ready.begin(), s.ready.end(), [&](const entry& r) { return r.key == e.key; }));
                auto& stmt = newer_waiting ? refuse : revive;
                stmt.bind(1, static_cast<std::int64_t>(e.id));
                bool changed = stmt.exec() > 0 && !newer_waiting;
                stmt.reset();
                if (changed) revived.emplace_back(name, std::move(e));
            }
            db_.exec("UPDATE messages SET replay = 0 WHERE replay = 1");
            tx.commit();
            for (auto& [name, e] : revived) {
                auto& s = state_[name];
                s.dead -= std::min<std::uint64_t>(s.dead, 1);
                admit(s, std::move(e));
            }
            ready_.notify_all();
        } catch (const std::exception&) {
            // tried again in a second
        }
    }

    std::string file_;
    embedded_options options_;
    SQLite::Database db_;  // the committer's (and load's)
    std::chrono::steady_clock::time_point last_replay_check_{};
    SQLite::Statement insert_{db_, "INSERT INTO messages (queue, body, key, op, hops) VALUES (?, ?, ?, ?, ?)"};
    SQLite::Statement remove_{db_, "DELETE FROM messages WHERE id = ?"};
    SQLite::Statement kill_{db_, "UPDATE messages SET dead = 1, reason = ?, dead_at = ? WHERE id = ?"};
    SQLite::Statement overtake_{db_, "UPDATE messages SET overtaken = 1 WHERE dead = 1 AND queue = ? AND key = ? AND id < ?"};

    std::mutex mutex_;
    std::condition_variable work_, ready_;
    std::vector<pending> pending_;
    std::unordered_map<std::string, queue_state> state_;
    std::unordered_set<std::string> dead_keys_;  // "queue\nkey" of dead letters (committer and load only)
    std::size_t memory_bytes_ = 0;
    std::optional<std::string> problem_;
    bool stopping_ = false;
    bool committer_done_ = false;
    std::thread committer_;  // last: started once everything above exists
};

embedded_consumer::~embedded_consumer() {
    std::vector<entry> left;
    for (auto& [id, e] : unsettled_) left.push_back(std::move(e));
    if (!left.empty()) broker_->put_back(queue_, std::move(left));
}

std::vector<message> embedded_consumer::fetch(std::size_t max, std::chrono::milliseconds wait) {
    if (unsettled_.size() >= prefetch_) return {};
    auto entries = broker_->take(queue_, std::min(max, prefetch_ - unsettled_.size()), wait);
    std::vector<message> out;
    out.reserve(entries.size());
    for (auto& e : entries) {
        message m{e.id, e.key, e.hdr, {}, e.redelivered, 1};
        if (e.in_memory) {
            m.body = std::move(e.body);
            e.body = std::string();
            e.in_memory = false;  // kept only to be put back: read again from the file then
        } else {
            if (!reader_) reader_ = std::make_unique<SQLite::Database>(open_file(broker_->file(), false));
            SQLite::Statement q(*reader_, "SELECT body FROM messages WHERE id = ?");
            q.bind(1, static_cast<std::int64_t>(e.id));
            if (q.executeStep()) m.body = q.getColumn(0).getString();
        }
        unsettled_.emplace(e.id, std::move(e));
        out.push_back(std::move(m));
    }
    return out;
}

void embedded_consumer::settle(std::vector<settlement> settlements, on_durable done) {
    embedded_broker::settling work{{}, {}, queue_, std::move(done)};
    work.entries.reserve(settlements.size());
    for (auto& s : settlements) {
        auto it = unsettled_.find(s.id);
        if (it == unsettled_.end()) continue;  // not ours or settled already
        work.entries.push_back(std::move(it->second));
        unsettled_.erase(it);
        work.settlements.push_back(std::move(s));
    }
    if (work.settlements.empty()) return work.done(nullptr);
    broker_->submit(std::move(work));
}

void embedded_consumer::release(const std::vector<std::uint64_t>& ids) {
    std::vector<entry> back;
    for (auto id : ids) {
        auto it = unsettled_.find(id);
        if (it == unsettled_.end()) continue;
        back.push_back(std::move(it->second));
        unsettled_.erase(it);
    }
    if (!back.empty()) broker_->put_back(queue_, std::move(back));
}

class embedded_admin final : public dead_letter_admin {
public:
    explicit embedded_admin(const std::string& file) : db_(open_file(file, false)) {}

    std::vector<dead_letter> list(const std::string& queue) override {
        SQLite::Statement q(db_, queue.empty() ? "SELECT id, queue, key, op, hops, body, reason, dead_at FROM messages WHERE dead = 1 ORDER BY id"
                                               : "SELECT id, queue, key, op, hops, body, reason, dead_at FROM messages WHERE dead = 1 AND queue = ? ORDER BY id");
        if (!queue.empty()) q.bind(1, queue);
        std::vector<dead_letter> out;
        while (q.executeStep()) {
            dead_letter d;
            d.id = static_cast<std::uint64_t>(q.getColumn(0).getInt64());
            d.queue = q.getColumn(1).getString();
            d.key = q.getColumn(2).getString();
            d.headers = {q.getColumn(3).getString(), static_cast<std::uint32_t>(q.getColumn(4).getInt())};
            d.body = q.getColumn(5).getString();
            d.reason = q.getColumn(6).getString();
            d.at = q.getColumn(7).isNull() ? 0 : q.getColumn(7).getInt64();
            out.push_back(std::move(d));
        }
        return out;
    }

    replay_report replay(const std::string& queue, const std::vector<std::uint64_t>& ids) override {
        std::set<std::uint64_t> wanted(ids.begin(), ids.end());
        const bool all = ids.empty();  // (not `wanted.empty()`: it empties as the wanted ids are found)
        replay_report report;
        SQLite::Transaction tx(db_);
        SQLite::Statement q(db_, "SELECT id, key, overtaken FROM messages WHERE dead = 1 AND replay = 0 AND queue = ? ORDER BY id");
        q.bind(1, queue);
        SQLite::Statement mark(db_, "UPDATE messages SET replay = 1 WHERE id = ?");
        while (q.executeStep()) {
            auto id = static_cast<std::uint64_t>(q.getColumn(0).getInt64());
            if (!all && !wanted.erase(id)) continue;
            if (q.getColumn(2).getInt()) {
                report.refused.emplace_back(id, "a newer message for the same document (key " + q.getColumn(1).getString() +
                                                    ") was processed after it: replaying it would apply an older change over newer ones");
                continue;
            }
            mark.bind(1, static_cast<std::int64_t>(id));
            mark.exec();
            mark.reset();
            report.replayed.push_back(id);
        }
        tx.commit();
        for (auto id : wanted) report.refused.emplace_back(id, "no dead letter with this id in queue '" + queue + "'");
        return report;
    }

private:
    SQLite::Database db_;
};

}  // namespace

std::shared_ptr<broker> open_embedded(const std::string& file, embedded_options options) {
    return std::make_shared<embedded_broker>(file, options);
}

std::unique_ptr<dead_letter_admin> open_embedded_admin(const std::string& file) { return std::make_unique<embedded_admin>(file); }

}  // namespace sluice::queue
