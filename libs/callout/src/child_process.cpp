#include <sluice/callout/child_process.hpp>
#include <sluice/core/json_io.hpp>

#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <system_error>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace sluice::callout {

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

bool same_id(const bj::value* got, const std::string& id) {
    return got && ((got->is_string() && got->get_string() == id) || (got->is_int64() && std::to_string(got->get_int64()) == id));
}

}  // namespace

struct child_process::impl {
    std::string name;
    std::vector<std::string> command;
    pid_t pid = 0;
    fd pidfd;  // readable once the child exited
    fd to_child, from_child;
    std::string buffer;
    std::thread stderr_reader;
    std::uint64_t next_id = 0;
    std::chrono::milliseconds timeout{0};

    void start() {
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
        for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        pid_t child = 0;
        int rc = ::posix_spawnp(&child, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) throw failure("cannot start '" + command.front() + "': " + std::strerror(rc));
        pid = child;
        pidfd = fd(static_cast<int>(::syscall(SYS_pidfd_open, child, 0)));
        to_child = std::move(in_write);
        from_child = std::move(out_read);
        buffer.clear();
        ::fcntl(to_child.get(), F_SETFL, O_NONBLOCK);
        ::fcntl(from_child.get(), F_SETFL, O_NONBLOCK);
        // Its stderr goes to our log, line by line, until it closes.
        stderr_reader = std::thread([who = name, err = std::move(err_read)]() mutable {
            std::string pending;
            char chunk[4096];
            while (true) {
                auto n = ::read(err.get(), chunk, sizeof chunk);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;
                pending.append(chunk, static_cast<std::size_t>(n));
                for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
                    spdlog::warn("{} (child): {}", who, pending.substr(0, nl));
                    pending.erase(0, nl + 1);
                }
            }
            if (!pending.empty()) spdlog::warn("{} (child): {}", who, pending);
        });
        spdlog::info("{}: child started (pid {})", name, pid);
    }

    void end(std::chrono::milliseconds grace) {
        if (pid > 0) {
            to_child.reset();
            from_child.reset();
            int status = 0;
            if (!exited_within(grace)) ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            pid = 0;
            pidfd.reset();
        }
        if (stderr_reader.joinable()) stderr_reader.join();
    }

    int wait_for(int f, short events, clock::time_point deadline) {
        while (true) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
            if (left <= 0) throw failure("did not answer within " + std::to_string(timeout.count()) + " ms");
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
            auto n = ::write(to_child.get(), data.data() + done, data.size() - done);
            if (n > 0) {
                done += static_cast<std::size_t>(n);
            } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                wait_for(to_child.get(), POLLOUT, deadline);
            } else {
                throw failure(exit_description("stopped reading its input"));
            }
        }
    }

    std::string read_line(clock::time_point deadline) {
        while (true) {
            auto nl = buffer.find('\n');
            if (nl != std::string::npos) {
                std::string line = buffer.substr(0, nl);
                buffer.erase(0, nl + 1);
                if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines are not replies
                return line;
            }
            if (buffer.size() > (16u << 20)) throw failure("wrote a line over 16 MiB");
            char chunk[65536];
            auto n = ::read(from_child.get(), chunk, sizeof chunk);
            if (n > 0) {
                buffer.append(chunk, static_cast<std::size_t>(n));
            } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                wait_for(from_child.get(), POLLIN, deadline);
            } else {
                throw failure(exit_description("closed its output"));
            }
        }
    }

    /// Whether the child exited within `grace` (it is then a zombie until reaped).
    bool exited_within(std::chrono::milliseconds grace) {
        if (!pidfd) return false;
        pollfd p{pidfd.get(), POLLIN, 0};
        int rc;
        do {
            rc = ::poll(&p, 1, static_cast<int>(grace.count()));
        } while (rc < 0 && errno == EINTR);
        return rc > 0;
    }

    /// "exited with status 3" / "killed by signal 9", after reaping it when it has exited.
    std::string exit_description(const std::string& what) {
        int status = 0;
        if (pid > 0 && exited_within(std::chrono::milliseconds(200)) && ::waitpid(pid, &status, 0) == pid) {
            pid = 0;
            pidfd.reset();
            if (WIFEXITED(status)) return what + ": exited with status " + std::to_string(WEXITSTATUS(status));
            if (WIFSIGNALED(status)) return what + ": killed by signal " + std::to_string(WTERMSIG(status));
        }
        return what;
    }
};

child_process::child_process(std::string name, std::vector<std::string> command) : impl_(std::make_unique<impl>()) {
    impl_->name = std::move(name);
    impl_->command = std::move(command);
}

child_process::~child_process() { stop(std::chrono::milliseconds(2000)); }

bj::object child_process::call(bj::object request, std::chrono::milliseconds timeout) {
    auto& c = *impl_;
    // A request that has an `id` of its own (a hook's document id) keeps it: it identifies the
    // line as well as a fresh one would, since a child answers one request at a time.
    std::string id;
    if (const auto* own = request.if_contains("id"); own && own->is_string()) {
        id = own->get_string();
    } else {
        id = std::to_string(++c.next_id);
        request["id"] = id;
    }
    std::string line = bj::serialize(request);
    line += '\n';
    c.timeout = timeout;
    const auto deadline = clock::now() + timeout;
    try {
        if (c.pid <= 0) c.start();
        c.write_all(line, deadline);
        auto answer = c.read_line(deadline);
        bj::value parsed;
        try {
            parsed = parse_json(answer, "reply");
        } catch (const std::exception& e) {
            throw failure(std::string("wrote a line that is not a reply: ") + e.what());
        }
        auto* reply = parsed.if_object();
        if (reply == nullptr) throw failure("wrote a reply that is not an object: " + answer.substr(0, 200));
        if (!same_id(reply->if_contains("id"), id))
            throw failure("wrote a reply for another request (expected id " + id + "): " + answer.substr(0, 200));
        reply->erase("id");
        return std::move(*reply);
    } catch (const failure& e) {
        spdlog::warn("{}: child {}; restarting it", c.name, e.what());
        c.end(std::chrono::milliseconds(0));
        throw failure(std::string("child process ") + e.what());
    } catch (const std::system_error& e) {
        c.end(std::chrono::milliseconds(0));
        throw failure(std::string("child process: ") + e.what());
    }
}

void child_process::stop(std::chrono::milliseconds grace) { impl_->end(grace); }

}  // namespace sluice::callout
