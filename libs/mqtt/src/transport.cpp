#include "broker_session.hpp"

#include <sluice/core/error.hpp>
#include <sluice/mqtt/transport.hpp>

#include <SQLiteCpp/SQLiteCpp.h>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

namespace sluice::mqtt {

namespace bj = boost::json;

namespace {

/// Frames published and not yet acknowledged by the broker, all devices together: bounds memory
/// while the broker is slow, and what is republished after a lost connection.
constexpr std::size_t window = 512;
constexpr auto command_timeout = std::chrono::seconds(5);
constexpr auto flush_interval = std::chrono::seconds(1);

/// A part of a topic name: no level separator, no wildcard, no NUL.
void check_topic_part(const std::string& value, const char* what) {
    if (value.empty() || value.size() > 200 || value.find_first_of(std::string("/+#\0", 4)) != std::string::npos)
        throw invalid_input(errc::invalid_input, std::string(what) + " '" + value + "' cannot be part of an MQTT topic (no '/', '+', '#')");
}

std::string random_password() {
    std::random_device rd;
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    std::string password;
    for (int i = 0; i < 32; ++i) password += alphabet[rd() % 62];
    return password;
}

bool has_error(const bj::value& response) {
    const auto* e = response.is_object() ? response.as_object().if_contains("error") : nullptr;
    return e != nullptr && !(e->is_string() && e->as_string().empty());
}

std::string error_of(const bj::value& response) {
    const auto* e = response.as_object().if_contains("error");
    return e && e->is_string() ? std::string(e->as_string()) : bj::serialize(response);
}

}  // namespace

class transport::impl {
public:
    impl(const config::mqtt_config& c, pipeline::device_hub& hub, const std::filesystem::path& state_file, metrics::metrics& metrics,
         sluice::health& health, const std::string& instance)
        : config_(c), hub_(hub), metrics_(metrics.transport("mqtt")), health_(health), db_(state_file.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE) {
        db_.setBusyTimeout(5000);
        db_.exec("PRAGMA journal_mode=WAL");
        db_.exec("CREATE TABLE IF NOT EXISTS mqtt_devices (device TEXT PRIMARY KEY, app TEXT NOT NULL, acked INTEGER NOT NULL)");
        health_.report("mqtt", "connecting to the broker");
        {
            std::lock_guard lock(mutex_);
            SQLite::Statement q(db_, "SELECT device, app, acked FROM mqtt_devices");
            while (q.executeStep()) {
                add_locked(q.getColumn(0).getString(), q.getColumn(1).getString(), static_cast<std::uint64_t>(q.getColumn(2).getInt64()));
            }
        }
        session_ = std::make_unique<broker_session>(
            c, "sluice-" + instance,
            broker_session::handlers{[this] { on_connected(); }, [this](std::string problem) { on_disconnected(std::move(problem)); },
                                     [this](int mid) { on_confirmed(mid); }});
        pump_ = std::thread([this] { run(); });
    }

    ~impl() { stop(); }

    credentials register_device(const std::string& app, const std::string& device) {
        check_topic_part(app, "app");
        check_topic_part(device, "device");
        credentials out{config_.public_url, app + "/" + device, random_password(), topic_of(app, device)};
        bj::array commands{
            bj::object{{"command", "deleteClient"}, {"username", out.username}},  // renews: the old password stops working
            bj::object{{"command", "createRole"},
                       {"rolename", out.username},
                       {"acls", bj::array{bj::object{{"acltype", "subscribeLiteral"}, {"topic", out.topic}, {"priority", 0}, {"allow", true}}}}},
            bj::object{{"command", "createClient"},
                       {"username", out.username},
                       {"password", out.password},
                       {"roles", bj::array{bj::object{{"rolename", out.username}}}}}};
        auto answers = session_->administer(std::move(commands), command_timeout);
        if (has_error(answers[2])) throw unavailable("mqtt", "the MQTT broker refused to create the device's client: " + error_of(answers[2]));
        std::lock_guard lock(mutex_);
        if (!devices_.count(device)) {
            add_locked(device, app, std::nullopt);
            SQLite::Statement put(db_, "INSERT OR REPLACE INTO mqtt_devices (device, app, acked) VALUES (?, ?, ?)");
            put.bind(1, device);
            put.bind(2, app);
            put.bind(3, static_cast<std::int64_t>(devices_.at(device).acked));
            put.exec();
            spdlog::info("mqtt: device {} of app {} reads {}", device, app, out.topic);
        }
        return out;
    }

    void stop() {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) return;
            stopping_ = true;
        }
        wake_.notify_all();
        if (pump_.joinable()) pump_.join();
        session_->stop();
        std::vector<std::pair<std::string, std::shared_ptr<link>>> links;
        {
            std::lock_guard lock(mutex_);
            for (auto& [device, d] : devices_) links.emplace_back(device, d.link_);
        }
        for (auto& [device, l] : links) hub_.detach(device, l.get());
    }

private:
    /// The device's place in the hub: a connection that never closes, noting what is new.
    class link : public pipeline::connection {
    public:
        link(impl& owner, std::string device) : owner_(owner), device_(std::move(device)) {}
        void send(pipeline::frame_head, std::uint64_t seq) override { owner_.numbered(device_, seq); }
        void close(std::uint16_t, const std::string&) override { owner_.forget(device_); }

    private:
        impl& owner_;
        std::string device_;
    };

    struct device_state {
        std::string app, topic;
        std::uint64_t acked = 0;      ///< the broker acknowledged every frame up to here
        std::uint64_t published = 0;  ///< sent to the broker up to here
        std::uint64_t latest = 0;     ///< the hub numbered frames up to here
        std::shared_ptr<link> link_;
    };

    static std::string topic_of(const std::string& app, const std::string& device) { return "sluice/" + app + "/devices/" + device; }

    /// Attaches the device to the hub. Publishing starts after `acked`, what the broker confirmed
    /// before a restart; a device registered just now starts after what its stream has now.
    void add_locked(const std::string& device, const std::string& app, std::optional<std::uint64_t> acked) {
        auto l = std::make_shared<link>(*this, device);
        auto attached = hub_.attach(device, l, std::nullopt);
        auto& d = devices_[device];
        d.app = app;
        d.topic = topic_of(app, device);
        d.link_ = l;
        d.latest = std::max(d.latest, attached.seq);
        d.acked = d.published = !acked || *acked > attached.seq ? attached.seq : *acked;
        if (d.latest > d.published) pending_.insert(device);
        metrics_.connections.Set(static_cast<double>(devices_.size()));
    }

    void numbered(const std::string& device, std::uint64_t seq) {
        {
            std::lock_guard lock(mutex_);
            auto it = devices_.find(device);
            if (it == devices_.end()) return;
            it->second.latest = std::max(it->second.latest, seq);
            pending_.insert(device);
        }
        wake_.notify_all();
    }

    /// Logout: the device's broker client goes (the pump deletes it), and its stream here.
    void forget(const std::string& device) {
        std::shared_ptr<link> l;
        {
            std::lock_guard lock(mutex_);
            auto it = devices_.find(device);
            if (it == devices_.end()) return;
            l = it->second.link_;
            forgotten_.push_back(it->second.app + "/" + device);
            pending_.erase(device);
            devices_.erase(it);
            SQLite::Statement del(db_, "DELETE FROM mqtt_devices WHERE device = ?");
            del.bind(1, device);
            del.exec();
            metrics_.connections.Set(static_cast<double>(devices_.size()));
        }
        hub_.detach(device, l.get());
        wake_.notify_all();
    }

    void on_connected() {
        {
            std::lock_guard lock(mutex_);
            connected_ = true;
            ready_ = false;
        }
        wake_.notify_all();
    }

    void on_disconnected(std::string problem) {
        bool stopping = false;
        {
            std::lock_guard lock(mutex_);
            stopping = stopping_;
            if (connected_ || first_failure_) spdlog::warn("mqtt: {}", problem.empty() ? "disconnected from the broker" : problem);
            first_failure_ = false;
            connected_ = ready_ = false;
            unconfirmed_.clear();
            // What was not acknowledged goes again, in order, once a connection is up.
            for (auto& [device, d] : devices_) {
                d.published = d.acked;
                if (d.latest > d.acked) pending_.insert(device);
            }
        }
        if (!stopping) health_.report("mqtt", problem.empty() ? "disconnected from the broker" : problem);
        wake_.notify_all();
    }

    void on_confirmed(int mid) {
        {
            std::lock_guard lock(mutex_);
            auto it = unconfirmed_.find(mid);
            if (it == unconfirmed_.end()) return;
            auto d = devices_.find(it->second.first);
            if (d != devices_.end() && it->second.second > d->second.acked) {
                d->second.acked = it->second.second;
                acked_changed_.insert(it->second.first);
            }
            unconfirmed_.erase(it);
        }
        metrics_.sent.Increment();
        wake_.notify_all();
    }

    /// The pump: sets up the publisher's rights after each connection, publishes what is pending
    /// within the window, deletes the clients of devices that logged out, saves how far devices
    /// got.
    void run() {
        std::unique_lock lock(mutex_);
        auto next_flush = std::chrono::steady_clock::now() + flush_interval;
        while (true) {
            if (stopping_) {
                // Drain: wait (bounded) for the broker to acknowledge what is out, then save.
                auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
                wake_.wait_until(lock, until, [&] { return unconfirmed_.empty() || !connected_; });
                save_acked(lock);
                return;
            }
            if (connected_ && !ready_) {
                lock.unlock();
                bool ok = grant_publisher();
                lock.lock();
                if (ok && connected_) {
                    ready_ = true;
                    health_.clear("mqtt");
                }
                if (!ok) wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
                continue;
            }
            if (ready_ && !forgotten_.empty()) {
                auto username = std::move(forgotten_.front());
                forgotten_.pop_front();
                lock.unlock();
                delete_client(username);
                lock.lock();
                continue;
            }
            if (ready_ && !pending_.empty() && unconfirmed_.size() < window) {
                publish_some();
                continue;
            }
            if (std::chrono::steady_clock::now() >= next_flush) {
                save_acked(lock);
                next_flush = std::chrono::steady_clock::now() + flush_interval;
                continue;
            }
            wake_.wait_until(lock, next_flush, [&] {
                return stopping_ || (connected_ && !ready_) || (ready_ && !forgotten_.empty()) ||
                       (ready_ && !pending_.empty() && unconfirmed_.size() < window);
            });
        }
    }

    /// Publishes the pending frames of devices in turn, within the window. Called locked.
    void publish_some() {
        for (auto it = pending_.begin(); it != pending_.end() && unconfirmed_.size() < window;) {
            auto d = devices_.find(*it);
            if (d == devices_.end() || d->second.published >= d->second.latest) {
                it = pending_.erase(it);
                continue;
            }
            auto& state = d->second;
            auto read = hub_.read(*it, state.published, state.latest, window - unconfirmed_.size());
            if (read.resync_required) {
                // The backlog no longer reaches back to what the broker has: say so, and go on from now.
                std::string frame = bj::serialize(bj::object{{"event", "resync_required"},
                                                             {"data", bj::object{{"seq", read.seq}, {"resume_from", state.published}}}});
                if (!publish(*it, state, frame, read.seq)) return;
                metrics_.dropped.Increment(static_cast<double>(read.seq - state.published));
                state.latest = std::max(state.latest, read.seq);
                state.published = read.seq;
                continue;
            }
            for (const auto& [seq, head] : read.replay) {
                std::string payload;
                payload.reserve(head->size() + 24);
                payload += *head;
                payload += std::to_string(seq);
                payload += '}';
                if (!publish(*it, state, payload, seq)) return;
                state.published = seq;
            }
            if (read.replay.empty()) state.published = state.latest;  // nothing more in the backlog
            if (state.published >= state.latest) {
                it = pending_.erase(it);
            } else {
                ++it;
            }
        }
    }

    bool publish(const std::string& device, const device_state& state, const std::string& payload, std::uint64_t seq) {
        auto mid = session_->publish(state.topic, payload);
        if (!mid) return false;  // the connection went: on_disconnected sets things back
        unconfirmed_[*mid] = {device, seq};
        return true;
    }

    /// Sluice's administrator may use `$CONTROL` but not publish to ordinary topics: give it a
    /// role that may publish under `sluice/`. Changing a client's roles makes the broker
    /// disconnect it, so the role is added only when missing (the next connection finds it).
    bool grant_publisher() {
        try {
            auto answers = session_->administer(bj::array{bj::object{{"command", "getClient"}, {"username", config_.admin_username}}}, command_timeout);
            if (has_error(answers[0])) {
                spdlog::error("mqtt: cannot read the administrator's client: {}", error_of(answers[0]));
                health_.report("mqtt", "cannot read the administrator's client: " + error_of(answers[0]));
                return false;
            }
            const auto& roles = answers[0].as_object().at("data").as_object().at("client").as_object().at("roles").as_array();
            for (const auto& r : roles) {
                if (r.as_object().at("rolename") == publisher_role) return true;
            }
            auto granted = session_->administer(
                bj::array{bj::object{{"command", "createRole"},
                                     {"rolename", publisher_role},
                                     {"acls", bj::array{bj::object{{"acltype", "publishClientSend"}, {"topic", "sluice/#"}, {"priority", 0}, {"allow", true}}}}},
                          bj::object{{"command", "addClientRole"}, {"username", config_.admin_username}, {"rolename", publisher_role}}},
                command_timeout);
            if (has_error(granted[1])) {
                spdlog::error("mqtt: cannot let the administrator publish: {}", error_of(granted[1]));
                return false;
            }
            spdlog::info("mqtt: role {} lets {} publish under sluice/", publisher_role, config_.admin_username);
            return true;
        } catch (const std::exception& e) {
            spdlog::warn("mqtt: setting up the publisher: {}", e.what());
            return false;
        }
    }

    void delete_client(const std::string& username) {
        try {
            session_->administer(bj::array{bj::object{{"command", "deleteClient"}, {"username", username}},
                                           bj::object{{"command", "deleteRole"}, {"rolename", username}}},
                                 command_timeout);
        } catch (const std::exception& e) {
            spdlog::warn("mqtt: could not delete the broker client {} of a device that logged out: {}", username, e.what());
        }
    }

    /// Saves how far devices got (acknowledged by the broker). Called locked.
    void save_acked(std::unique_lock<std::mutex>&) {
        if (acked_changed_.empty()) return;
        try {
            SQLite::Transaction tx(db_);
            SQLite::Statement put(db_, "UPDATE mqtt_devices SET acked = ? WHERE device = ?");
            for (const auto& device : acked_changed_) {
                auto it = devices_.find(device);
                if (it == devices_.end()) continue;
                put.bind(1, static_cast<std::int64_t>(it->second.acked));
                put.bind(2, device);
                put.exec();
                put.reset();
            }
            tx.commit();
            acked_changed_.clear();
        } catch (const std::exception& e) {  // kept for the next flush; a restart republishes a little more
            spdlog::warn("mqtt: cannot save how far devices got: {}", e.what());
        }
    }

    static constexpr const char* publisher_role = "sluice-publisher";

    const config::mqtt_config config_;
    pipeline::device_hub& hub_;
    metrics::transport_metrics& metrics_;
    sluice::health& health_;
    SQLite::Database db_;

    std::mutex mutex_;
    std::condition_variable wake_;
    std::unordered_map<std::string, device_state> devices_;
    std::set<std::string> pending_;        ///< devices with frames numbered and not yet published
    std::set<std::string> acked_changed_;  ///< devices whose `acked` is not saved yet
    std::map<int, std::pair<std::string, std::uint64_t>> unconfirmed_;  ///< message id -> (device, seq)
    std::deque<std::string> forgotten_;  ///< broker clients of devices that logged out, to delete
    bool connected_ = false, ready_ = false, stopping_ = false, first_failure_ = true;
    std::unique_ptr<broker_session> session_;
    std::thread pump_;
};

transport::transport(const config::mqtt_config& c, pipeline::device_hub& hub, const std::filesystem::path& state_file,
                     metrics::metrics& metrics, sluice::health& health, const std::string& instance)
    : impl_(std::make_unique<impl>(c, hub, state_file, metrics, health, instance)) {}

transport::~transport() = default;

credentials transport::register_device(const std::string& app, const std::string& device) { return impl_->register_device(app, device); }

void transport::stop() { impl_->stop(); }

}  // namespace sluice::mqtt
