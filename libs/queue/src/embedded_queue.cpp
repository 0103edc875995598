#include <sluice/core/error.hpp>
#include <sluice/queue/queue.hpp>

#include <SQLiteCpp/SQLiteCpp.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace sluice::queue {

void queue::publish_and_wait(const std::string& name, std::vector<std::string> bodies) {
    std::promise<void> durable;
    auto result = durable.get_future();
    publish(name, std::move(bodies), [&durable](std::exception_ptr e) {
        if (e) {
            durable.set_exception(e);
        } else {
            durable.set_value();
        }
    });
    result.get();
}

namespace {

/// Marks the dead letters of queue `name` for replay (the committer puts them back); how many.
std::size_t mark_for_replay(SQLite::Database& db, const std::string& name) {
    SQLite::Statement q(db, "UPDATE messages SET dead = 0, replay = 1, reason = NULL WHERE dead = 1 AND queue = ?");
    q.bind(1, name);
    return static_cast<std::size_t>(q.exec());
}

class embedded_queue final : public queue {
public:
    explicit embedded_queue(const std::filesystem::path& file) : db_(open(file)) {
        db_.setBusyTimeout(5000);
        SQLite::Statement load(db_, "SELECT id, queue, body, dead FROM messages ORDER BY id");
        while (load.executeStep()) {
            std::string name = load.getColumn(1).getString();
            if (load.getColumn(3).getInt()) {
                ++state_[name].dead;
            } else {
                state_[name].ready.push_back({static_cast<std::uint64_t>(load.getColumn(0).getInt64()), load.getColumn(2).getString()});
            }
        }
        committer_ = std::thread([this] { commit_loop(); });
    }

    ~embedded_queue() override { stop(); }

    void publish(const std::string& name, std::vector<std::string> bodies, on_durable done) override {
        {
            std::lock_guard lock(mutex_);
            if (!stopping_) {
                publishes_.push_back({name, std::move(bodies), std::move(done)});
                work_.notify_one();
                return;
            }
        }
        done(std::make_exception_ptr(error("unavailable", "queue is stopping")));
    }

    std::vector<message> fetch(const std::string& name, std::size_t max, std::chrono::milliseconds wait) override {
        std::unique_lock lock(mutex_);
        auto& s = state_[name];
        ready_.wait_for(lock, wait, [&] { return stopping_ || !s.ready.empty(); });
        std::vector<message> out;
        while (!stopping_ && !s.ready.empty() && out.size() < max) {
            out.push_back(std::move(s.ready.front()));
            s.ready.pop_front();
        }
        s.in_flight += out.size();
        return out;
    }

    void ack(const std::string& name, std::span<const std::uint64_t> ids) override {
        std::lock_guard lock(mutex_);
        auto& s = state_[name];
        s.in_flight -= std::min<std::uint64_t>(s.in_flight, ids.size());
        removals_.insert(removals_.end(), ids.begin(), ids.end());
        work_.notify_one();
    }

    void dead_letter(const std::string& name, std::uint64_t id, const std::string& reason) override {
        std::lock_guard lock(mutex_);
        auto& s = state_[name];
        s.in_flight -= std::min<std::uint64_t>(s.in_flight, 1);
        ++s.dead;
        deaths_.push_back({id, reason});
        work_.notify_one();
    }

    std::vector<dead_message> dead_letters(const std::string& name) override {
        flush();
        std::lock_guard db_lock(db_mutex_);
        SQLite::Statement q(db_, "SELECT id, body, reason FROM messages WHERE queue = ? AND dead = 1 ORDER BY id");
        q.bind(1, name);
        std::vector<dead_message> out;
        while (q.executeStep()) {
            out.push_back({static_cast<std::uint64_t>(q.getColumn(0).getInt64()), q.getColumn(1).getString(),
                           q.getColumn(2).getString()});
        }
        return out;
    }

    std::size_t replay_dead_letters(const std::string& name) override {
        flush();  // dead letters still pending are written first
        std::size_t marked;
        {
            std::lock_guard db_lock(db_mutex_);
            marked = mark_for_replay(db_, name);
        }
        take_replays();
        return marked;
    }

    queue_stats stats(const std::string& name) override {
        std::lock_guard lock(mutex_);
        const auto& s = state_[name];
        return {s.ready.size(), s.in_flight, s.dead};
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

private:
    static SQLite::Database open(const std::filesystem::path& file) {
        SQLite::Database db(file.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        db.exec("PRAGMA journal_mode=WAL");
        db.exec("PRAGMA synchronous=FULL");
        db.exec(
            "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, "
            "body BLOB NOT NULL, dead INTEGER NOT NULL DEFAULT 0, reason TEXT, replay INTEGER NOT NULL DEFAULT 0)");
        db.exec("CREATE INDEX IF NOT EXISTS messages_queue ON messages(queue, dead, id)");
        db.exec("CREATE INDEX IF NOT EXISTS messages_replay ON messages(replay) WHERE replay = 1");
        db.exec("UPDATE messages SET replay = 0 WHERE replay = 1");  // loaded below as ordinary messages
        return db;
    }

    struct pending_publish {
        std::string name;
        std::vector<std::string> bodies;
        on_durable done;
    };
    struct death {
        std::uint64_t id;
        std::string reason;
    };
    struct queue_state {
        std::deque<message> ready;
        std::uint64_t in_flight = 0;
        std::uint64_t dead = 0;
    };

    /// Waits until everything submitted so far is written.
    void flush() {
        std::unique_lock lock(mutex_);
        auto target = ++flush_requested_;
        work_.notify_one();
        flushed_.wait(lock, [&] { return flush_done_ >= target || committer_done_; });
    }

    void commit_loop() {
        while (true) {
            std::vector<pending_publish> publishes;
            std::vector<std::uint64_t> removals;
            std::vector<death> deaths;
            std::uint64_t flush_target;
            {
                std::unique_lock lock(mutex_);
                work_.wait_for(lock, std::chrono::seconds(1), [&] {
                    return stopping_ || !publishes_.empty() || !removals_.empty() || !deaths_.empty() ||
                           flush_requested_ > flush_done_;
                });
                if (stopping_ && publishes_.empty() && removals_.empty() && deaths_.empty()) break;
                publishes.swap(publishes_);
                removals.swap(removals_);
                deaths.swap(deaths_);
                flush_target = flush_requested_;
            }
            if (std::chrono::steady_clock::now() - last_replay_check_ > std::chrono::seconds(1)) {
                last_replay_check_ = std::chrono::steady_clock::now();  // committer-only
                take_replays();
            }
            std::exception_ptr failure;
            std::vector<std::vector<std::uint64_t>> ids(publishes.size());
            try {
                std::lock_guard db_lock(db_mutex_);
                SQLite::Transaction tx(db_);
                for (std::size_t i = 0; i < publishes.size(); ++i) {
                    for (const auto& body : publishes[i].bodies) {
                        insert_.bind(1, publishes[i].name);
                        insert_.bind(2, body.data(), static_cast<int>(body.size()));
                        insert_.exec();
                        insert_.reset();
                        ids[i].push_back(static_cast<std::uint64_t>(db_.getLastInsertRowid()));
                    }
                }
                for (auto id : removals) {
                    remove_.bind(1, static_cast<std::int64_t>(id));
                    remove_.exec();
                    remove_.reset();
                }
                for (const auto& d : deaths) {
                    kill_.bind(1, d.reason);
                    kill_.bind(2, static_cast<std::int64_t>(d.id));
                    kill_.exec();
                    kill_.reset();
                }
                tx.commit();
            } catch (const std::exception& e) {
                insert_.tryReset();
                remove_.tryReset();
                kill_.tryReset();
                failure = std::make_exception_ptr(error("queue_failed", std::string("queue write failed: ") + e.what()));
            }
            {
                std::lock_guard lock(mutex_);
                if (!failure) {
                    for (std::size_t i = 0; i < publishes.size(); ++i) {
                        auto& s = state_[publishes[i].name];
                        for (std::size_t j = 0; j < ids[i].size(); ++j) s.ready.push_back({ids[i][j], std::move(publishes[i].bodies[j])});
                    }
                }
                flush_done_ = std::max(flush_done_, flush_target);
            }
            ready_.notify_all();
            flushed_.notify_all();
            for (auto& p : publishes) p.done(failure);
        }
        std::lock_guard lock(mutex_);
        committer_done_ = true;
        flushed_.notify_all();
    }

    /// Dead letters another process marked for replay go back at the end of their queues.
    void take_replays() {
        std::vector<std::pair<std::string, message>> taken;
        try {
            std::lock_guard db_lock(db_mutex_);
            SQLite::Transaction tx(db_);
            SQLite::Statement q(db_, "SELECT id, queue, body FROM messages WHERE replay = 1 ORDER BY id");
            while (q.executeStep()) {
                taken.push_back({q.getColumn(1).getString(),
                                 {static_cast<std::uint64_t>(q.getColumn(0).getInt64()), q.getColumn(2).getString()}});
            }
            if (taken.empty()) return;
            db_.exec("UPDATE messages SET replay = 0 WHERE replay = 1");
            tx.commit();
        } catch (const std::exception&) {
            return;  // tried again in a second
        }
        std::lock_guard lock(mutex_);
        for (auto& [name, m] : taken) {
            auto& s = state_[name];
            s.dead -= std::min<std::uint64_t>(s.dead, 1);
            s.ready.push_back(std::move(m));
        }
        ready_.notify_all();
    }

    SQLite::Database db_;
    std::mutex db_mutex_;  // the committer and dead-letter listing share db_
    std::chrono::steady_clock::time_point last_replay_check_{};
    SQLite::Statement insert_{db_, "INSERT INTO messages (queue, body) VALUES (?, ?)"};
    SQLite::Statement remove_{db_, "DELETE FROM messages WHERE id = ?"};
    SQLite::Statement kill_{db_, "UPDATE messages SET dead = 1, reason = ? WHERE id = ?"};

    std::mutex mutex_;
    std::condition_variable work_, ready_, flushed_;
    std::vector<pending_publish> publishes_;
    std::vector<std::uint64_t> removals_;
    std::vector<death> deaths_;
    std::unordered_map<std::string, queue_state> state_;
    std::uint64_t flush_requested_ = 0, flush_done_ = 0;
    bool stopping_ = false;
    bool committer_done_ = false;
    std::thread committer_;  // last: started once everything above exists
};

}  // namespace

std::unique_ptr<queue> open_embedded(const std::filesystem::path& file) { return std::make_unique<embedded_queue>(file); }

namespace {

SQLite::Database open_existing(const std::filesystem::path& file) {
    if (!std::filesystem::exists(file)) throw error("not_found", "no queue database at " + file.string());
    SQLite::Database db(file.string(), SQLite::OPEN_READWRITE);
    db.setBusyTimeout(5000);
    return db;
}

}  // namespace

std::vector<stored_dead_message> list_embedded_dead_letters(const std::filesystem::path& file, const std::string& name) {
    auto db = open_existing(file);
    SQLite::Statement q(db, name.empty() ? "SELECT id, body, reason, queue FROM messages WHERE dead = 1 ORDER BY id"
                                         : "SELECT id, body, reason, queue FROM messages WHERE dead = 1 AND queue = ? ORDER BY id");
    if (!name.empty()) q.bind(1, name);
    std::vector<stored_dead_message> out;
    while (q.executeStep()) {
        stored_dead_message m;
        m.id = static_cast<std::uint64_t>(q.getColumn(0).getInt64());
        m.body = q.getColumn(1).getString();
        m.reason = q.getColumn(2).getString();
        m.queue = q.getColumn(3).getString();
        out.push_back(std::move(m));
    }
    return out;
}

std::size_t replay_embedded_dead_letters(const std::filesystem::path& file, const std::string& name) {
    auto db = open_existing(file);
    return mark_for_replay(db, name);
}

}  // namespace sluice::queue
