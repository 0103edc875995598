#include <sluice/core/json_io.hpp>
#include <sluice/registry/registry.hpp>

#include <SQLiteCpp/SQLiteCpp.h>
#include <boost/json/serialize.hpp>

#include <map>
#include <mutex>
#include <unordered_map>

namespace sluice::registry {

namespace bj = boost::json;

namespace {

class embedded_registry final : public registry {
public:
    explicit embedded_registry(const std::filesystem::path& file) : db_(file.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE) {
        db_.setBusyTimeout(5000);
        db_.exec("PRAGMA journal_mode=WAL");
        // NORMAL: a subscription survives a crash of the process (the WAL is written before the
        // call returns), not necessarily a power cut; it is cheap enough for the event loop.
        db_.exec("PRAGMA synchronous=NORMAL");
        db_.exec(
            "CREATE TABLE IF NOT EXISTS subscriptions (device TEXT NOT NULL, channel TEXT NOT NULL, app TEXT NOT NULL, "
            "user TEXT NOT NULL, filter TEXT, PRIMARY KEY (device, channel))");
        SQLite::Statement q(db_, "SELECT device, channel, app, user, filter FROM subscriptions");
        while (q.executeStep()) {
            subscription s{q.getColumn(0).getString(), q.getColumn(2).getString(), q.getColumn(3).getString(),
                           q.getColumn(1).getString(), nullptr};
            std::optional<json::filter> f;
            if (!q.getColumn(4).isNull()) {
                s.filter = parse_json(q.getColumn(4).getString());
                f = json::filter::compile(s.filter);
            }
            add(std::move(s), std::move(f));
        }
    }

    void subscribe(const subscription& s, std::optional<json::filter> filter) override {
        std::lock_guard lock(mutex_);
        SQLite::Statement put(db_, "INSERT OR REPLACE INTO subscriptions (device, channel, app, user, filter) VALUES (?, ?, ?, ?, ?)");
        put.bind(1, s.device);
        put.bind(2, s.channel);
        put.bind(3, s.app);
        put.bind(4, s.user);
        if (s.filter.is_null()) {
            put.bind(5);
        } else {
            put.bind(5, bj::serialize(s.filter));
        }
        put.exec();
        add(s, std::move(filter));
    }

    bool unsubscribe(const std::string& device, const std::string& channel) override {
        std::lock_guard lock(mutex_);
        SQLite::Statement del(db_, "DELETE FROM subscriptions WHERE device = ? AND channel = ?");
        del.bind(1, device);
        del.bind(2, channel);
        del.exec();
        return drop(device, channel);
    }

    void forget_device(const std::string& device) override {
        std::lock_guard lock(mutex_);
        SQLite::Statement del(db_, "DELETE FROM subscriptions WHERE device = ?");
        del.bind(1, device);
        del.exec();
        auto it = by_device_.find(device);
        if (it == by_device_.end()) return;
        auto channels = it->second;
        for (const auto& [channel, id] : channels) drop(device, channel);
    }

    std::vector<subscription> subscriptions_of(const std::string& device) override {
        std::lock_guard lock(mutex_);
        std::vector<subscription> out;
        auto it = by_device_.find(device);
        if (it == by_device_.end()) return out;
        for (const auto& [channel, id] : it->second) out.push_back(by_id_.at(id));
        return out;
    }

    std::vector<std::string> devices() override {
        std::lock_guard lock(mutex_);
        std::vector<std::string> out;
        for (const auto& [device, subs] : by_device_) out.push_back(device);
        return out;
    }

    void find(std::span<const std::string> channels, const bj::value* before, const bj::value* after,
              std::vector<route>& out) override {
        std::lock_guard lock(mutex_);
        matches_.clear();
        index_.find(channels, before, after, matches_);
        // One route per (device, kind); a device subscribed on several channels gets them all.
        std::map<std::pair<std::string_view, change_kind>, std::size_t> slot;
        for (const auto& m : matches_) {
            const auto& s = by_id_.at(m.id);
            auto [it, inserted] = slot.try_emplace({s.device, m.kind}, out.size());
            if (inserted) out.push_back({s.device, m.kind, {}});
            out[it->second].channels.push_back(s.channel);
        }
    }

    std::size_t size() override {
        std::lock_guard lock(mutex_);
        return index_.size();
    }

private:
    void add(subscription s, std::optional<json::filter> filter) {
        auto& channels = by_device_[s.device];
        auto existing = channels.find(s.channel);
        subscription_id id = existing != channels.end() ? existing->second : ++next_id_;
        channels[s.channel] = id;
        index_.add(id, s.channel, std::move(filter));
        by_id_[id] = std::move(s);
    }

    bool drop(const std::string& device, const std::string& channel) {
        auto dit = by_device_.find(device);
        if (dit == by_device_.end()) return false;
        auto cit = dit->second.find(channel);
        if (cit == dit->second.end()) return false;
        index_.remove(cit->second);
        by_id_.erase(cit->second);
        dit->second.erase(cit);
        if (dit->second.empty()) by_device_.erase(dit);
        return true;
    }

    std::mutex mutex_;
    SQLite::Database db_;
    subscription_index index_;
    std::unordered_map<subscription_id, subscription> by_id_;
    std::map<std::string, std::map<std::string, subscription_id>> by_device_;
    subscription_id next_id_ = 0;
    std::vector<match> matches_;  // scratch of find
};

}  // namespace

std::unique_ptr<registry> open_embedded(const std::filesystem::path& file) { return std::make_unique<embedded_registry>(file); }

}  // namespace sluice::registry
