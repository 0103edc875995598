#pragma once
// The servers scripts/servers/with-redis.sh starts for an integration binary (a standalone Redis
// and a 3-master Redis Cluster), and plain synchronous hiredis to inspect and steer them,
// independent of the client under test.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice::testing::redis_servers {

inline std::string env(const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') {
        throw std::runtime_error(std::string(name) +
                                 " is not set: run this binary through scripts/servers/with-redis.sh");
    }
    return v;
}

inline std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        auto end = s.find(sep, start);
        out.push_back(s.substr(start, end - start));
        if (end == std::string::npos) return out;
        start = end + 1;
    }
}

inline std::vector<std::string> urls(bool cluster) {
    return cluster ? split(env("SLUICE_TEST_REDIS_CLUSTER_URLS"), ',')
                   : std::vector{env("SLUICE_TEST_REDIS_URL")};
}

inline int port_of(const std::string& url) {
    return std::stoi(url.substr(url.rfind(':') + 1));
}

inline void control(const char* ctl_env, const std::string& args) {
    const std::string command = env(ctl_env) + " " + args;
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

/// A synchronous admin connection to one node.
class raw {
  public:
    explicit raw(int port) : port_(port), c_(redisConnect("127.0.0.1", port)) {
        if (c_ == nullptr || c_->err)
            throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
    }
    ~raw() { redisFree(c_); }
    raw(const raw&) = delete;
    raw& operator=(const raw&) = delete;

    using reply_ptr = std::unique_ptr<redisReply, void (*)(void*)>;
    reply_ptr run(const std::vector<std::string>& args) {
        std::vector<const char*> argv;
        std::vector<std::size_t> lens;
        for (const auto& a : args) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        auto* r = static_cast<redisReply*>(
            redisCommandArgv(c_, static_cast<int>(args.size()), argv.data(), lens.data()));
        if (r == nullptr) throw std::runtime_error("127.0.0.1:" + std::to_string(port_) + ": " + c_->errstr);
        reply_ptr out(r, freeReplyObject);
        if (r->type == REDIS_REPLY_ERROR)
            throw std::runtime_error(args[0] + ": " + std::string(r->str, r->len));
        return out;
    }
    std::string text(const std::vector<std::string>& args) {
        auto r = run(args);
        return r->type == REDIS_REPLY_INTEGER ? std::to_string(r->integer)
                                              : std::string(r->str ? r->str : "", r->len);
    }
    long long integer(const std::vector<std::string>& args) { return run(args)->integer; }
    int port() const { return port_; }
    /// The next reply pushed by the server (pub/sub), or null after `within`.
    reply_ptr next(std::chrono::milliseconds within) {
        timeval tv{static_cast<time_t>(within.count() / 1000),
                   static_cast<suseconds_t>(within.count() % 1000 * 1000)};
        redisSetTimeout(c_, tv);
        void* r = nullptr;
        if (redisGetReply(c_, &r) != REDIS_OK) return {nullptr, freeReplyObject};
        return {static_cast<redisReply*>(r), freeReplyObject};
    }

  private:
    int port_;
    redisContext* c_;
};

/// Deletes every key under the prefix, on every node.
inline void delete_keys(bool cluster, const std::string& prefix) {
    for (const auto& url : urls(cluster)) {
        try {
            raw node(port_of(url));
            std::string cursor = "0";
            do {
                auto r = node.run({"SCAN", cursor, "MATCH", prefix + ":*", "COUNT", "1000"});
                cursor.assign(r->element[0]->str, r->element[0]->len);
                for (std::size_t i = 0; i < r->element[1]->elements; ++i) {
                    const auto* k = r->element[1]->element[i];
                    node.run({"DEL", std::string(k->str, k->len)});
                }
            } while (cursor != "0");
        } catch (const std::exception&) {
            // A node that is down after a failed outage test: its keys go with its directory.
        }
    }
}

}  // namespace sluice::testing::redis_servers
