// The MQTT transport against a real mosquitto (scripts/servers/with-mosquitto.sh): frames reach a
// device's client in seq order, nothing is lost across a broker restart, stop() keeps how far
// devices got, and registrations race deliveries safely (this binary also runs under TSan). The
// device is a plain libmosquitto client, independent of the transport's own connection code.
#include <sluice/mqtt/transport.hpp>

#include "../../unit/temp_file.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <mosquitto.h>

#include <boost/json/parse.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using sluice::pipeline::delivery;
using sluice::pipeline::device_hub;

std::string env(const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') throw std::runtime_error(std::string(name) + " is not set: run through scripts/servers/with-mosquitto.sh");
    return v;
}

void broker(const char* action) {
    const std::string command = env("SLUICE_TEST_MQTT_CTL") + " " + action;
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

sluice::config::mqtt_config broker_config() {
    sluice::config::mqtt_config c;
    c.url = c.public_url = env("SLUICE_TEST_MQTT_URL");
    c.admin_username = env("SLUICE_TEST_MQTT_ADMIN_USERNAME");
    c.admin_password = env("SLUICE_TEST_MQTT_ADMIN_PASSWORD");
    return c;
}

/// A device: a persistent session subscribed to its topic, collecting `seq`s in arrival order.
class device_client {
public:
    device_client(const sluice::mqtt::credentials& cr, const std::string& client_id) : topic_(cr.topic) {
        mosquitto_lib_init();
        m_ = mosquitto_new(client_id.c_str(), false, this);
        mosquitto_username_pw_set(m_, cr.username.c_str(), cr.password.c_str());
        mosquitto_connect_callback_set(m_, [](mosquitto* m, void* self, int rc) {
            if (rc == 0) mosquitto_subscribe(m, nullptr, static_cast<device_client*>(self)->topic_.c_str(), 1);
        });
        mosquitto_subscribe_callback_set(m_, [](mosquitto*, void* self, int, int, const int*) {
            auto* d = static_cast<device_client*>(self);
            std::lock_guard lock(d->mutex_);
            d->subscribed_ = true;
            d->changed_.notify_all();
        });
        mosquitto_message_callback_set(m_, [](mosquitto*, void* self, const mosquitto_message* msg) {
            auto* d = static_cast<device_client*>(self);
            auto frame = boost::json::parse(std::string_view(static_cast<const char*>(msg->payload), static_cast<std::size_t>(msg->payloadlen)));
            std::lock_guard lock(d->mutex_);
            d->seqs_.push_back(frame.as_object().at("seq").to_number<std::uint64_t>());
            d->changed_.notify_all();
        });
        mosquitto_reconnect_delay_set(m_, 1, 1, false);
        auto url = cr.url.substr(cr.url.find("://") + 3);
        if (mosquitto_connect(m_, url.substr(0, url.rfind(':')).c_str(), std::stoi(url.substr(url.rfind(':') + 1)), 10) != MOSQ_ERR_SUCCESS)
            throw std::runtime_error("the device cannot connect");
        mosquitto_loop_start(m_);
        std::unique_lock lock(mutex_);
        if (!changed_.wait_for(lock, 10s, [&] { return subscribed_; })) throw std::runtime_error("the device did not subscribe");
    }
    ~device_client() {
        mosquitto_disconnect(m_);
        mosquitto_loop_stop(m_, false);
        mosquitto_destroy(m_);
    }
    /// The distinct seqs received once `count` distinct ones have come (in first-arrival order).
    std::vector<std::uint64_t> distinct(std::size_t count, std::chrono::seconds timeout = 30s) {
        std::unique_lock lock(mutex_);
        auto unique = [&] {
            std::vector<std::uint64_t> out;
            std::set<std::uint64_t> seen;
            for (auto s : seqs_) {
                if (seen.insert(s).second) out.push_back(s);
            }
            return out;
        };
        changed_.wait_for(lock, timeout, [&] { return unique().size() >= count; });
        return unique();
    }

private:
    std::string topic_;
    mosquitto* m_ = nullptr;
    std::mutex mutex_;
    std::condition_variable changed_;
    bool subscribed_ = false;
    std::vector<std::uint64_t> seqs_;
};

std::vector<std::uint64_t> one_to(std::uint64_t n) {
    std::vector<std::uint64_t> v;
    for (std::uint64_t i = 1; i <= n; ++i) v.push_back(i);
    return v;
}

struct MqttTransport : ::testing::Test {
    sluice::testing::temp_database hub_file{"sluice_mqtt_hub_"};
    sluice::testing::temp_database state_file{"sluice_mqtt_state_"};
    sluice::metrics::metrics metrics;
    sluice::health health;
    device_hub hub{hub_file.path(), 1000, std::chrono::seconds(60)};

    static delivery frame_for(const std::string& device, int i) {
        return {{device}, std::make_shared<const std::string>(R"({"event":"model_created","op":"op)" + std::to_string(i) + R"(","data":{},"seq":)")};
    }
    /// Registration waits for the transport's first connection (503 until then).
    static sluice::mqtt::credentials register_when_up(sluice::mqtt::transport& t, const std::string& device) {
        auto deadline = std::chrono::steady_clock::now() + 20s;
        while (true) {
            try {
                return t.register_device("demo", device);
            } catch (const sluice::unavailable&) {
                if (std::chrono::steady_clock::now() > deadline) throw;
                std::this_thread::sleep_for(50ms);
            }
        }
    }
};

TEST_F(MqttTransport, PublishesEachDevicesFramesInSeqOrder) {
    sluice::mqtt::transport t(broker_config(), hub, state_file.path(), metrics, health, "order");
    auto cr = register_when_up(t, "order-device");
    EXPECT_EQ(cr.topic, "sluice/demo/devices/order-device");
    device_client d(cr, "order-client");
    for (int i = 0; i < 300; ++i) hub.deliver({frame_for("order-device", i)});
    EXPECT_EQ(d.distinct(300), one_to(300));
    t.stop();
}

TEST_F(MqttTransport, LosesNothingAcrossABrokerRestart) {
    sluice::mqtt::transport t(broker_config(), hub, state_file.path(), metrics, health, "restart");
    auto cr = register_when_up(t, "restart-device");
    device_client d(cr, "restart-client");
    for (int i = 0; i < 100; ++i) hub.deliver({frame_for("restart-device", i)});
    broker("restart");
    for (int i = 100; i < 200; ++i) hub.deliver({frame_for("restart-device", i)});
    auto got = d.distinct(200, 60s);
    std::sort(got.begin(), got.end());  // a frame the broker took twice may come after newer ones
    EXPECT_EQ(got, one_to(200));
    t.stop();
}

TEST_F(MqttTransport, StopKeepsHowFarEachDeviceGot) {
    {
        sluice::mqtt::transport t(broker_config(), hub, state_file.path(), metrics, health, "stop");
        auto cr = register_when_up(t, "stop-device");
        device_client d(cr, "stop-client");
        for (int i = 0; i < 50; ++i) hub.deliver({frame_for("stop-device", i)});
        EXPECT_EQ(d.distinct(50).size(), 50u);
        t.stop();
    }
    SQLite::Database db(state_file.path().string());
    EXPECT_EQ(db.execAndGet("SELECT acked FROM mqtt_devices WHERE device = 'stop-device'").getInt64(), 50);
}

TEST_F(MqttTransport, RegistrationsRaceDeliveriesSafely) {
    sluice::mqtt::transport t(broker_config(), hub, state_file.path(), metrics, health, "race");
    register_when_up(t, "race-0");
    std::atomic<bool> done{false};
    std::thread writer([&] {
        for (int i = 0; !done; ++i) hub.deliver({frame_for("race-" + std::to_string(i % 4), i)});
    });
    std::vector<std::thread> registrars;
    for (int r = 0; r < 3; ++r) {
        registrars.emplace_back([&, r] {
            for (int i = 0; i < 3; ++i) t.register_device("demo", "race-" + std::to_string((r + i) % 4));
        });
    }
    for (auto& r : registrars) r.join();
    done = true;
    writer.join();
    t.stop();
    SQLite::Database db(state_file.path().string());
    EXPECT_EQ(db.execAndGet("SELECT count(*) FROM mqtt_devices").getInt(), 4);
}

}  // namespace
