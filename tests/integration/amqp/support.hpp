#pragma once
// Helpers of the RabbitMQ suite: the server's address and control from scripts/servers/with-rabbitmq.sh,
// unique queue names per test, polling with deadlines (never sleeps for synchronisation).
#include <amqp.h>  // (rabbitmq-c: in /usr/include, linked through sluice::amqp)
#include <amqp_tcp_socket.h>
#include <gtest/gtest.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <sluice/amqp/broker.hpp>
#include <sluice/core/error.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sluice::testing {

using namespace std::chrono_literals;

inline std::string rabbitmq_url() {
    const char* url = std::getenv("SLUICE_TEST_RABBITMQ_URL");
    if (!url)
        throw std::runtime_error(
            "SLUICE_TEST_RABBITMQ_URL is not set: run under scripts/servers/with-rabbitmq.sh");
    return url;
}

/// Runs `rabbitmq.sh <command> DIR [args]` (stop, start, restart, kill, ctl ...); returns its output.
inline std::string rabbitmq_ctl(const std::string& command) {
    const char* ctl = std::getenv("SLUICE_TEST_RABBITMQ_CTL");
    if (!ctl) throw std::runtime_error("SLUICE_TEST_RABBITMQ_CTL is not set");
    std::string line = ctl;
    auto space = line.find(' ');
    std::string cmd =
        line.substr(0, space) + " " + command.substr(0, command.find(' ')) + " " + line.substr(space + 1);
    if (command.find(' ') != std::string::npos) cmd += command.substr(command.find(' '));
    std::string out;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!p) throw std::runtime_error("cannot run " + cmd);
    std::array<char, 512> buf{};
    while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
    int status = ::pclose(p);
    if (status != 0) throw std::runtime_error(cmd + " failed: " + out);
    return out;
}

/// Deletes the queues of the stages a test used when it ends: hundreds of idle quorum queues
/// (each a Raft group) slow a small server down until logins time out.
class queue_sweeper : public ::testing::EmptyTestEventListener {
  public:
    static queue_sweeper& instance() {
        static auto* sweeper = [] {
            auto* s = new queue_sweeper;
            ::testing::UnitTest::GetInstance()->listeners().Append(s);  // gtest owns it
            return s;
        }();
        return *sweeper;
    }
    void add(const std::string& stage) { stages_.push_back(stage); }
    void OnTestEnd(const ::testing::TestInfo&) override {
        if (stages_.empty()) return;
        std::vector<std::string> queues;
        for (const auto& s : stages_) {
            queues.push_back(s);
            queues.push_back(s + ".dead");
            for (int i = 0; i < 8; ++i) queues.push_back(s + "." + std::to_string(i));
        }
        stages_.clear();
        delete_queues(queues);
    }

  private:
    static void delete_queues(const std::vector<std::string>& queues) {
        auto url = rabbitmq_url();
        std::vector<char> buffer(url.begin(), url.end());
        buffer.push_back('\0');
        amqp_connection_info info{};
        if (amqp_parse_url(buffer.data(), &info) != AMQP_STATUS_OK) return;
        amqp_connection_state_t c = amqp_new_connection();
        amqp_socket_t* socket = amqp_tcp_socket_new(c);
        timeval tv{10, 0};
        amqp_set_rpc_timeout(c, &tv);
        if (!socket || amqp_socket_open_noblock(socket, info.host, info.port, &tv) != AMQP_STATUS_OK ||
            amqp_login(c, info.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user, info.password)
                    .reply_type != AMQP_RESPONSE_NORMAL) {
            amqp_destroy_connection(c);
            return;  // the server is down (an outage test): nothing to sweep
        }
        amqp_channel_t ch = 1;
        amqp_channel_open(c, ch);
        for (const auto& q : queues) {
            amqp_queue_delete(c, ch, amqp_cstring_bytes(q.c_str()), 0, 0);
            if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL) {  // e.g. 404 closed the channel
                amqp_channel_open(c, ++ch);
                if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL) break;
            }
        }
        amqp_connection_close(c, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(c);
    }
    std::vector<std::string> stages_;
};

/// A queue name no other test (or earlier run on the same server) uses; its queues are deleted
/// when the test ends.
inline std::string unique_queue(const std::string& base) {
    auto name = base + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" +
                std::to_string(::getpid());
    queue_sweeper::instance().add(name);
    return name;
}

/// Runs `f` when the scope ends, also by an exception or a failed ASSERT (stops and joins threads).
template <class F>
class finally {
  public:
    explicit finally(F f) : f_(std::move(f)) {}
    ~finally() { f_(); }
    finally(const finally&) = delete;
    finally& operator=(const finally&) = delete;

  private:
    F f_;
};

/// Polls `done` until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 30s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(20ms);  // a poll interval, not a synchronisation
    }
    return true;
}

inline amqp::rabbitmq_options options(std::vector<std::string> queues, std::size_t partitions = 1) {
    amqp::rabbitmq_options o;
    o.url = rabbitmq_url();
    o.partitions = partitions;
    o.queues = std::move(queues);
    o.timeout = 5s;
    return o;
}

}  // namespace sluice::testing
