#pragma once
// Helpers of the RabbitMQ suite: the server's address and control from scripts/servers/with-rabbitmq.sh,
// unique queue names per test, polling with deadlines (never sleeps for synchronisation).
#include <gtest/gtest.h>
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

/// A queue name no other test (or earlier run on the same server) uses.
inline std::string unique_queue(const std::string& base) {
    return base + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" +
           std::to_string(::getpid());
}

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
