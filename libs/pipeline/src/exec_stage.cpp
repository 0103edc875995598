// `kind = "exec"` stages: one child process per instance, JSON Lines on its stdin/stdout.
#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/pipeline/stages.hpp>

#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstring>
#include <sys/syscall.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace sluice::pipeline {

namespace bj = boost::json;

namespace {

using clock = std::chrono::steady_clock;

/// A pipe end that closes itself.
class fd {
public:
    fd() = default;
    explicit fd(int f) : f_(f) {}
    fd(fd&& o) noexcept : f_(std::exchange(o.f_, -1)) {}
    fd& operator=(fd&& o) noexcept {
        reset();
        f_ = std::exchange(o.f_, -1);
        return *this;
    }
    ~fd() { reset(); }
    void reset() {
        if (f_ >= 0) ::close(f_);
        f_ = -1;
    }
    int get() const { return f_; }
    explicit operator bool() const { return f_ >= 0; }

private:
    int f_ = -1;
};

std::pair<fd, fd> make_pipe() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    return {fd(p[0]), fd(p[1])};
}

/// Why a child could not answer: the message counts one failed attempt and the child is restarted.
struct child_failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class exec_stage final : public stage {
public:
    exec_stage(const config::stage_config& c, std::size_t instance) : config_(c), instance_(instance) {}
    ~exec_stage() override { stop(); }

    std::vector<outcome> handle(const std::vector<queue::message>& batch) override {
        std::vector<outcome> outcomes;
        for (const auto& m : batch) outcomes.push_back(handle_one(m));
        return outcomes;
    }

    void stop() override { end_child(std::chrono::milliseconds(2000)); }

private:
    outcome handle_one(const queue::message& m) {
        bj::value message;
        try {
            message = parse_json(m.body, "message");
        } catch (const std::exception& e) {
            return outcome::dead(std::string("message is not JSON: ") + e.what());
        }
        auto id = std::to_string(++next_id_);
        std::string line = bj::serialize(bj::object{{"id", id}, {"stage", config_.name}, {"attempt", m.attempt}, {"message", std::move(message)}});
        line += '\n';
        auto deadline = clock::now() + config_.timeout;
        try {
            if (pid_ <= 0) start_child();
            write_all(line, deadline);
            auto answer = read_line(deadline);
            bj::value parsed;
            try {
                parsed = parse_json(answer, "reply");
            } catch (const std::exception& e) {
                throw child_failure(std::string("wrote a line that is not a reply: ") + e.what());
            }
            const auto* o = parsed.if_object();
            const auto* got = o ? o->if_contains("id") : nullptr;
            if (got == nullptr || !((got->is_string() && got->get_string() == id) || (got->is_int64() && std::to_string(got->get_int64()) == id)))
                throw child_failure("wrote a reply for another request (expected id " + id + "): " + answer.substr(0, 200));
            try {
                return reply::from_json(parsed).to_outcome(m.body);
            } catch (const error& e) {
                throw child_failure(e.what());
            }
        } catch (const child_failure& e) {
            spdlog::warn("stage {}: child {} {}; restarting it", config_.name, instance_, e.what());
            end_child(std::chrono::milliseconds(0));
            return outcome::retry(std::string("child process ") + e.what());
        } catch (const std::system_error& e) {
            end_child(std::chrono::milliseconds(0));
            return outcome::retry(std::string("child process: ") + e.what());
        }
    }

    void start_child() {
        static const bool sigpipe_ignored = [] {
            std::signal(SIGPIPE, SIG_IGN);  // a dead child's pipe must not kill the server
            return true;
        }();
        (void)sigpipe_ignored;
        auto [in_read, in_write] = make_pipe();
        auto [out_read, out_write] = make_pipe();
        auto [err_read, err_write] = make_pipe();
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, in_read.get(), 0);
        posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
        posix_spawn_file_actions_adddup2(&actions, err_write.get(), 2);
        posix_spawn_file_actions_addclosefrom_np(&actions, 3);  // no listening socket leaks into the child
        std::vector<char*> argv;
        for (const auto& a : config_.command) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        pid_t pid = 0;
        int rc = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) throw child_failure("cannot start '" + config_.command.front() + "': " + std::strerror(rc));
        pid_ = pid;
        pidfd_ = fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
        to_child_ = std::move(in_write);
        from_child_ = std::move(out_read);
        buffer_.clear();
        ::fcntl(to_child_.get(), F_SETFL, O_NONBLOCK);
        ::fcntl(from_child_.get(), F_SETFL, O_NONBLOCK);
        // Its stderr goes to our log, line by line, until it closes.
        stderr_reader_ = std::thread([name = config_.name, instance = instance_, err = std::move(err_read)]() mutable {
            std::string pending;
            char chunk[4096];
            while (true) {
                auto n = ::read(err.get(), chunk, sizeof chunk);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;
                pending.append(chunk, static_cast<std::size_t>(n));
                for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
                    spdlog::warn("stage {} (child {}): {}", name, instance, pending.substr(0, nl));
                    pending.erase(0, nl + 1);
                }
            }
            if (!pending.empty()) spdlog::warn("stage {} (child {}): {}", name, instance, pending);
        });
        spdlog::info("stage {}: child {} started (pid {})", config_.name, instance_, pid_);
    }

    /// Closes its stdin, waits up to `grace` for it to exit, then kills it.
    void end_child(std::chrono::milliseconds grace) {
        if (pid_ > 0) {
            to_child_.reset();
            from_child_.reset();
            int status = 0;
            if (!exited_within(grace)) ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            pid_ = 0;
            pidfd_.reset();
        }
        if (stderr_reader_.joinable()) stderr_reader_.join();
    }

    int wait_for(int f, short events, clock::time_point deadline) {
        while (true) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
            if (left <= 0) throw child_failure("did not answer within " + std::to_string(config_.timeout.count()) + " ms");
            pollfd p{f, events, 0};
            int rc = ::poll(&p, 1, static_cast<int>(left));
            if (rc < 0 && errno == EINTR) continue;
            if (rc < 0) throw std::system_error(errno, std::generic_category(), "poll");
            if (rc > 0) return p.revents;
        }
    }

    void write_all(const std::string& data, clock::time_point deadline) {
        std::size_t done = 0;
        while (done < data.size()) {
            auto n = ::write(to_child_.get(), data.data() + done, data.size() - done);
            if (n > 0) {
                done += static_cast<std::size_t>(n);
            } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                wait_for(to_child_.get(), POLLOUT, deadline);
            } else {
                throw child_failure(exit_description("stopped reading its input"));
            }
        }
    }

    std::string read_line(clock::time_point deadline) {
        while (true) {
            auto nl = buffer_.find('\n');
            if (nl != std::string::npos) {
                std::string line = buffer_.substr(0, nl);
                buffer_.erase(0, nl + 1);
                if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines are not replies
                return line;
            }
            if (buffer_.size() > (16u << 20)) throw child_failure("wrote a line over 16 MiB");
            char chunk[65536];
            auto n = ::read(from_child_.get(), chunk, sizeof chunk);
            if (n > 0) {
                buffer_.append(chunk, static_cast<std::size_t>(n));
            } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                wait_for(from_child_.get(), POLLIN, deadline);
            } else {
                throw child_failure(exit_description("closed its output"));
            }
        }
    }

    /// Whether the child exited within `grace` (it is then a zombie until reaped).
    bool exited_within(std::chrono::milliseconds grace) {
        if (!pidfd_) return false;
        pollfd p{pidfd_.get(), POLLIN, 0};
        int rc;
        do {
            rc = ::poll(&p, 1, static_cast<int>(grace.count()));
        } while (rc < 0 && errno == EINTR);
        return rc > 0;
    }

    /// "exited with status 3" / "killed by signal 9", after reaping it when it has exited.
    std::string exit_description(const std::string& what) {
        int status = 0;
        if (pid_ > 0 && exited_within(std::chrono::milliseconds(200)) && ::waitpid(pid_, &status, 0) == pid_) {
            pid_ = 0;
            pidfd_.reset();
            if (WIFEXITED(status)) return what + ": exited with status " + std::to_string(WEXITSTATUS(status));
            if (WIFSIGNALED(status)) return what + ": killed by signal " + std::to_string(WTERMSIG(status));
        }
        return what;
    }

    const config::stage_config& config_;
    std::size_t instance_;
    pid_t pid_ = 0;
    fd pidfd_;  // readable once the child exited
    fd to_child_, from_child_;
    std::string buffer_;
    std::thread stderr_reader_;
    std::uint64_t next_id_ = 0;
};

}  // namespace

stage_factory make_exec_stage(const config::stage_config& c) {
    return [&c](std::size_t instance) { return std::make_unique<exec_stage>(c, instance); };
}

}  // namespace sluice::pipeline
