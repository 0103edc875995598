#include "broker_session.hpp"

#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <mosquitto.h>
#include <cerrno>
#include <cstring>
#include <spdlog/spdlog.h>

namespace sluice::mqtt {

namespace bj = boost::json;

namespace {

constexpr const char* control_topic = "$CONTROL/dynamic-security/v1";
constexpr const char* response_topic = "$CONTROL/dynamic-security/v1/response";

/// libmosquitto keeps global state (its TLS and socket set-up): initialised once per process.
void init_library() {
    static const int initialised = [] { return mosquitto_lib_init(); }();
    (void)initialised;
}

}  // namespace

broker_session::broker_session(const config::mqtt_config& c, std::string client_id, handlers h)
    : username_(c.admin_username), password_(c.admin_password), client_id_(std::move(client_id)), handlers_(std::move(h)) {
    auto url = boost::urls::parse_uri(c.url);
    if (!url || url->host().empty()) throw error(errc::config_error, "config key 'transports.mqtt.url': '" + c.url + "' is not mqtt://host[:port]");
    host_ = url->host();
    if (url->has_port()) port_ = url->port_number();
    init_library();
    thread_ = std::thread([this] { run(); });
}

broker_session::~broker_session() { stop(); }

void broker_session::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && !thread_.joinable()) return;
        stopping_ = true;
        if (mosq_ != nullptr) mosquitto_disconnect(mosq_);
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void broker_session::run() {
    auto backoff = std::chrono::milliseconds(100);
    while (true) {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) return;
        }
        auto started = std::chrono::steady_clock::now();
        connect_and_serve();
        std::string problem;
        {
            std::lock_guard lock(mutex_);
            problem = last_problem_;
        }
        if (handlers_.disconnected) handlers_.disconnected(problem);
        if (std::chrono::steady_clock::now() - started > std::chrono::seconds(10)) backoff = std::chrono::milliseconds(100);
        std::unique_lock lock(mutex_);
        if (wake_.wait_for(lock, backoff, [this] { return stopping_; })) return;
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
}

/// One connection, from connect to loss: libmosquitto's own reconnection is not used, so that
/// what it queued for a lost connection goes with it (the transport republishes from the device
/// streams, in order).
void broker_session::connect_and_serve() {
    mosquitto* m = mosquitto_new(client_id_.c_str(), true, this);
    if (m == nullptr) {
        std::lock_guard lock(mutex_);
        last_problem_ = "cannot create an MQTT client";
        return;
    }
    mosquitto_threaded_set(m, true);  // other threads publish while this one runs the loop
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_max_inflight_messages_set(m, 0);  // the transport bounds what is unconfirmed
    mosquitto_username_pw_set(m, username_.c_str(), password_.c_str());
    mosquitto_connect_callback_set(m, &broker_session::on_connect);
    mosquitto_disconnect_callback_set(m, &broker_session::on_disconnect);
    mosquitto_publish_callback_set(m, &broker_session::on_publish);
    mosquitto_message_callback_set(m, &broker_session::on_message);
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            mosquitto_destroy(m);
            return;
        }
        mosq_ = m;
    }
    int rc = mosquitto_connect(m, host_.c_str(), port_, 30);
    if (rc == MOSQ_ERR_SUCCESS) {
        while (true) {
            rc = mosquitto_loop(m, 200, 1);
            if (rc != MOSQ_ERR_SUCCESS) break;
            std::lock_guard lock(mutex_);
            if (stopping_ && !up_) break;
        }
    }
    std::lock_guard lock(mutex_);
    if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN && last_problem_.empty())
        last_problem_ = "broker " + host_ + ":" + std::to_string(port_) + ": " + (rc == MOSQ_ERR_ERRNO ? std::string(std::strerror(errno)) : mosquitto_strerror(rc));
    up_ = false;
    mosq_ = nullptr;
    wake_.notify_all();
    mosquitto_destroy(m);
}

void broker_session::on_connect(mosquitto* m, void* self_ptr, int rc) {
    auto* self = static_cast<broker_session*>(self_ptr);
    if (rc != 0) {
        {
            std::lock_guard lock(self->mutex_);
            self->last_problem_ = "broker refused the connection: " + std::string(mosquitto_connack_string(rc)) +
                                  " (check transports.mqtt.admin_username and admin_password)";
        }
        mosquitto_disconnect(m);
        return;
    }
    mosquitto_subscribe(m, nullptr, response_topic, 1);
    {
        std::lock_guard lock(self->mutex_);
        self->up_ = true;
        self->last_problem_.clear();
    }
    spdlog::info("mqtt: connected to {}:{} as {}", self->host_, self->port_, self->username_);
    if (self->handlers_.connected) self->handlers_.connected();
}

void broker_session::on_disconnect(mosquitto*, void* self_ptr, int rc) {
    auto* self = static_cast<broker_session*>(self_ptr);
    std::lock_guard lock(self->mutex_);
    self->up_ = false;
    if (rc != 0 && self->last_problem_.empty()) self->last_problem_ = "connection to the broker lost";
    self->wake_.notify_all();
}

void broker_session::on_publish(mosquitto*, void* self_ptr, int mid) {
    auto* self = static_cast<broker_session*>(self_ptr);
    if (self->handlers_.confirmed) self->handlers_.confirmed(mid);
}

void broker_session::on_message(mosquitto*, void* self_ptr, const mosquitto_message* message) {
    auto* self = static_cast<broker_session*>(self_ptr);
    if (message->topic == nullptr || std::string_view(message->topic) != response_topic) return;
    bj::value parsed;
    try {
        parsed = parse_json(std::string_view(static_cast<const char*>(message->payload), static_cast<std::size_t>(message->payloadlen)));
    } catch (const std::exception& e) {
        spdlog::warn("mqtt: unreadable dynamic-security response: {}", e.what());
        return;
    }
    const auto* responses = parsed.is_object() ? parsed.as_object().if_contains("responses") : nullptr;
    if (responses == nullptr || !responses->is_array()) return;
    std::lock_guard lock(self->mutex_);
    for (const auto& r : responses->as_array()) {
        const auto* correlation = r.is_object() ? r.as_object().if_contains("correlationData") : nullptr;
        if (correlation == nullptr || !correlation->is_string()) continue;
        // "<request>.<index>": the answer of command <index> of request <request>.
        std::string key(correlation->as_string());
        auto dot = key.rfind('.');
        if (dot == std::string::npos) continue;
        auto it = self->answers_.find(key.substr(0, dot));
        if (it == self->answers_.end()) continue;
        if (!it->second) it->second.emplace();
        it->second->push_back(r);
    }
    self->wake_.notify_all();
}

std::optional<int> broker_session::publish(const std::string& topic, std::string_view payload) {
    std::lock_guard lock(mutex_);
    if (!up_ || mosq_ == nullptr) return std::nullopt;
    int mid = 0;
    int rc = mosquitto_publish(mosq_, &mid, topic.c_str(), static_cast<int>(payload.size()), payload.data(), 1, false);
    if (rc != MOSQ_ERR_SUCCESS) return std::nullopt;
    return mid;
}

bj::array broker_session::administer(bj::array commands, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mutex_);
    if (!up_ || mosq_ == nullptr) throw unavailable("mqtt", "the MQTT broker is not connected" + (last_problem_.empty() ? std::string() : ": " + last_problem_));
    const std::string request = std::to_string(++next_correlation_);
    for (std::size_t i = 0; i < commands.size(); ++i) commands[i].as_object()["correlationData"] = request + "." + std::to_string(i);
    const std::size_t expected = commands.size();
    std::string payload = bj::serialize(bj::object{{"commands", std::move(commands)}});
    answers_[request];
    struct forget {
        broker_session* self;
        const std::string& request;
        ~forget() { self->answers_.erase(request); }
    } forget_answer{this, request};
    int rc = mosquitto_publish(mosq_, nullptr, control_topic, static_cast<int>(payload.size()), payload.data(), 1, false);
    if (rc != MOSQ_ERR_SUCCESS) throw unavailable("mqtt", std::string("cannot send to the MQTT broker: ") + mosquitto_strerror(rc));
    bool answered = wake_.wait_until(lock, deadline, [&] {
        const auto& a = answers_[request];
        return !up_ || stopping_ || (a && a->size() >= expected);
    });
    auto& answer = answers_[request];
    if (!answer || answer->size() < expected) {
        if (answered) throw unavailable("mqtt", "the connection to the MQTT broker went before it answered");
        throw unavailable("mqtt", "the MQTT broker did not answer a dynamic-security command in time (is the dynamic-security plugin loaded?)");
    }
    // Responses come in the order of the commands; sort by index to be sure.
    bj::array ordered(expected);
    for (auto& r : *answer) {
        std::string key(r.as_object().at("correlationData").as_string());
        auto index = std::stoul(key.substr(key.rfind('.') + 1));
        if (index < expected) ordered[index] = std::move(r);
    }
    return ordered;
}

}  // namespace sluice::mqtt
