#include <sluice/channel/channel.hpp>
#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/registry/registry.hpp>
#include <sluice/registry/route_grouping.hpp>

#include <SQLiteCpp/SQLiteCpp.h>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <map>
#include <mutex>
#include <tuple>
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
        migrate_filtered_channels();
        SQLite::Statement q(db_, "SELECT device, channel, app, user, filter FROM subscriptions");
        while (q.executeStep()) {
            subscription s{q.getColumn(0).getString(), q.getColumn(2).getString(), q.getColumn(3).getString(),
                           q.getColumn(1).getString(), nullptr};
            std::optional<json::filter> f;
            if (!q.getColumn(4).isNull()) {
                s.filter = parse_json(q.getColumn(4).getString());
                f = json::filter::compile(s.filter);
            }
            auto pattern = channel::channel::parse(s.channel).pattern();
            add(std::move(s), std::move(pattern), std::move(f));
        }
    }

    void subscribe(const subscription& s, std::optional<json::filter> filter, std::size_t limit) override {
        auto pattern = channel::channel::parse(s.channel).pattern();
        std::lock_guard lock(mutex_);
        auto dit = devices_.find(s.device);
        const std::size_t held = dit == devices_.end() ? 0 : dit->second.channels.size();
        const bool again = dit != devices_.end() && dit->second.channels.contains(s.channel);
        if (!again && held >= limit) {
            throw error(errc::too_many_subscriptions, "device '" + s.device + "' already has " + std::to_string(held) +
                                                      " subscriptions, the most limits.subscriptions_per_device allows; "
                                                      "unsubscribe from one first");
        }
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
        add(s, std::move(pattern), std::move(filter));
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
        auto it = devices_.find(device);
        if (it == devices_.end()) return;
        for (const auto& [channel, id] : it->second.channels) {
            index_.remove(id);
            by_id_.erase(id);
        }
        devices_.erase(it);
    }

    std::vector<subscription> subscriptions_of(const std::string& device) override {
        std::lock_guard lock(mutex_);
        std::vector<subscription> out;
        auto it = devices_.find(device);
        if (it == devices_.end()) return out;
        for (const auto& [channel, id] : it->second.channels) out.push_back(by_id_.at(id).sub);
        return out;
    }

    std::vector<std::string> devices() override {
        std::lock_guard lock(mutex_);
        std::vector<std::string> out;
        for (const auto& [device, state] : devices_) out.push_back(device);
        return out;
    }

    void find(std::span<const std::string> channels, const bj::value* before, const bj::value* after,
              std::vector<route>& out) override {
        std::lock_guard lock(mutex_);
        matches_.clear();
        index_.find(channels, before, after, matches_);
        grouping_.group(matches_, [this](subscription_id id) {
            auto& held = by_id_.at(id);
            return std::pair<route_slots&, const subscription&>(held.device->slots, held.sub);
        }, out);
    }

    std::size_t size() override {
        std::lock_guard lock(mutex_);
        return index_.size();
    }

private:
    struct device_state {
        std::map<std::string, subscription_id, std::less<>> channels;
        route_slots slots;
    };
    struct held_subscription {
        subscription sub;
        device_state* device;  // std::map nodes are stable
    };

    /// Before filtered subscriptions were channels of their own, a filter was stored under the
    /// plain pattern. Such rows are renamed to the pattern plus `:filter:F`, which is what a client
    /// gets when it subscribes again; a row already there under that name is replaced by it.
    void migrate_filtered_channels() {
        std::vector<std::tuple<std::string, std::string, std::string>> renames;  // device, old, new
        SQLite::Statement q(db_, "SELECT device, channel, filter FROM subscriptions WHERE filter IS NOT NULL");
        while (q.executeStep()) {
            auto name = q.getColumn(1).getString();
            auto ch = channel::channel::parse(name);
            if (ch.filter) continue;
            ch.filter = channel::filter_id(parse_json(q.getColumn(2).getString()));
            renames.emplace_back(q.getColumn(0).getString(), std::move(name), ch.to_string());
        }
        if (renames.empty()) return;
        SQLite::Transaction tx(db_);
        SQLite::Statement rename(db_, "UPDATE OR REPLACE subscriptions SET channel = ? WHERE device = ? AND channel = ?");
        for (const auto& [device, from, to] : renames) {
            rename.bind(1, to);
            rename.bind(2, device);
            rename.bind(3, from);
            rename.exec();
            rename.reset();
        }
        tx.commit();
        spdlog::info("registry: renamed {} filtered subscriptions to their ':filter:' channels", renames.size());
    }

    void add(subscription s, std::string pattern, std::optional<json::filter> filter) {
        auto& device = devices_[s.device];
        auto [it, inserted] = device.channels.try_emplace(s.channel, 0);
        if (inserted) it->second = ++next_id_;
        const subscription_id id = it->second;
        index_.add(id, std::move(pattern), std::move(filter));
        by_id_.insert_or_assign(id, held_subscription{std::move(s), &device});
    }

    bool drop(const std::string& device, const std::string& channel) {
        auto dit = devices_.find(device);
        if (dit == devices_.end()) return false;
        auto cit = dit->second.channels.find(channel);
        if (cit == dit->second.channels.end()) return false;
        index_.remove(cit->second);
        by_id_.erase(cit->second);
        dit->second.channels.erase(cit);
        if (dit->second.channels.empty()) devices_.erase(dit);
        return true;
    }

    std::mutex mutex_;
    SQLite::Database db_;
    subscription_index index_;
    std::unordered_map<subscription_id, held_subscription> by_id_;
    std::map<std::string, device_state, std::less<>> devices_;
    subscription_id next_id_ = 0;
    route_grouping grouping_;
    std::vector<match> matches_;  // scratch of find
};

}  // namespace

std::unique_ptr<registry> open_embedded(const std::filesystem::path& file) { return std::make_unique<embedded_registry>(file); }

}  // namespace sluice::registry
