#pragma once
/// One connection of Sluice to the MQTT broker, as its dynamic-security administrator: kept up
/// (reconnecting with capped backoff) on a thread of its own, publishing QoS 1 and sending
/// dynamic-security commands. libmosquitto stays behind this class.
#include <sluice/config/config.hpp>

#include <boost/json/array.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

struct mosquitto;
struct mosquitto_message;

namespace sluice::mqtt {

class broker_session {
public:
    /// Called on the session's thread, with no lock of the session held.
    struct handlers {
        std::function<void()> connected;             ///< a connection is up (commands may be sent)
        std::function<void(std::string)> disconnected;  ///< it went down; what was unconfirmed is lost
        std::function<void(int)> confirmed;          ///< the broker acknowledged the publish with this id
    };

    broker_session(const config::mqtt_config& c, std::string client_id, handlers h);
    ~broker_session();
    broker_session(const broker_session&) = delete;
    broker_session& operator=(const broker_session&) = delete;

    /// Publishes `payload` on `topic` with QoS 1. Returns its message id (`confirmed` reports it),
    /// or nothing when no connection is up.
    std::optional<int> publish(const std::string& topic, std::string_view payload);

    /// Sends dynamic-security commands and returns their responses, one per command, in order
    /// (each may hold an `error`). Throws `sluice::unavailable` when no connection is up or no
    /// answer comes within `timeout`.
    boost::json::array administer(boost::json::array commands, std::chrono::milliseconds timeout);

    /// Disconnects and joins the session's thread.
    void stop();

private:
    void run();
    void connect_and_serve();
    static void on_connect(mosquitto*, void* self, int rc);
    static void on_disconnect(mosquitto*, void* self, int rc);
    static void on_publish(mosquitto*, void* self, int mid);
    static void on_message(mosquitto*, void* self, const mosquitto_message* m);

    std::string host_, username_, password_, client_id_;
    int port_ = 1883;
    handlers handlers_;

    std::mutex mutex_;  ///< guards `mosq_` (destroyed between connections) and the fields below
    std::condition_variable wake_;
    mosquitto* mosq_ = nullptr;
    bool up_ = false;  ///< CONNACK accepted and not disconnected since
    bool stopping_ = false;
    std::uint64_t next_correlation_ = 0;
    std::map<std::string, std::optional<boost::json::array>> answers_;  ///< by correlation data
    std::string last_problem_;
    std::thread thread_;
};

}  // namespace sluice::mqtt
