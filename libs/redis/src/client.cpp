// The only translation unit that sees hiredis and Asio (compile cost, and C headers stay here).
#include "client.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <sluice/core/error.hpp>
#include <thread>

namespace sluice::redis::detail {

namespace asio = boost::asio;
using namespace std::chrono_literals;

endpoint parse_url(std::string_view url) {
    std::string_view rest = url;
    if (rest.starts_with("redis://")) rest.remove_prefix(8);
    while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (rest.find('@') != std::string_view::npos || rest.find('/') != std::string_view::npos) {
        throw invalid_input(
            errc::config_error,
            "redis url '" + std::string(url) + "': only redis://host:port is supported (no auth, no db)");
    }
    endpoint ep;
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) {
        ep.host = std::string(rest);
    } else {
        ep.host = std::string(rest.substr(0, colon));
        auto port = rest.substr(colon + 1);
        auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), ep.port);
        if (ec != std::errc() || p != port.data() + port.size() || ep.port <= 0 || ep.port > 65535) {
            throw invalid_input(errc::config_error, "redis url '" + std::string(url) + "': bad port");
        }
    }
    if (ep.host.empty())
        throw invalid_input(errc::config_error, "redis url '" + std::string(url) + "': no host");
    return ep;
}

namespace {

constexpr std::array<std::uint16_t, 256> make_crc16_table() {
    std::array<std::uint16_t, 256> t{};
    for (unsigned i = 0; i < 256; ++i) {
        std::uint16_t crc = static_cast<std::uint16_t>(i << 8);
        for (int b = 0; b < 8; ++b)
            crc = static_cast<std::uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
        t[i] = crc;
    }
    return t;
}
constexpr auto crc16_table = make_crc16_table();

std::uint16_t crc16(std::string_view s) noexcept {
    std::uint16_t crc = 0;
    for (unsigned char c : s)
        crc = static_cast<std::uint16_t>((crc << 8) ^ crc16_table[((crc >> 8) ^ c) & 0xff]);
    return crc;
}

}  // namespace

unsigned key_slot(std::string_view key) noexcept {
    auto open = key.find('{');
    if (open != std::string_view::npos) {
        auto close = key.find('}', open + 1);
        if (close != std::string_view::npos && close != open + 1)
            key = key.substr(open + 1, close - open - 1);
    }
    return crc16(key) & 16383;
}

namespace {

reply copy_reply(const redisReply* r) {
    reply out;
    switch (r->type) {
        case REDIS_REPLY_STRING:
            out.kind = reply::type::string;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_STATUS:
            out.kind = reply::type::status;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_ERROR:
            out.kind = reply::type::error;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_INTEGER:
            out.kind = reply::type::integer;
            out.integer = r->integer;
            break;
        case REDIS_REPLY_ARRAY:
            out.kind = reply::type::array;
            out.elements.reserve(r->elements);
            for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(copy_reply(r->element[i]));
            break;
        default:
            break;  // nil
    }
    return out;
}

/// One hiredis context's socket, watched by Asio. hiredis asks for read/write interest; a wait is
/// re-armed after each event while the interest stays. The descriptor is released, not closed, in
/// `cleanup`: hiredis owns and closes the fd. Pending waits hold a shared_ptr, so the watcher
/// outlives the context when hiredis frees it from inside a handler.
struct watcher : std::enable_shared_from_this<watcher> {
    watcher(asio::io_context& io, redisAsyncContext* ac) : sd(io, ac->c.fd), ac(ac) {}
    asio::posix::stream_descriptor sd;
    redisAsyncContext* ac;
    bool want_read = false, want_write = false, reading = false, writing = false, dead = false;

    void arm_read() {
        reading = true;
        sd.async_wait(asio::posix::stream_descriptor::wait_read,
                      [self = shared_from_this()](boost::system::error_code ec) {
                          self->reading = false;
                          if (ec || self->dead || !self->want_read) return;
                          redisAsyncHandleRead(self->ac);
                          if (!self->dead && self->want_read && !self->reading) self->arm_read();
                      });
    }
    void arm_write() {
        writing = true;
        sd.async_wait(asio::posix::stream_descriptor::wait_write,
                      [self = shared_from_this()](boost::system::error_code ec) {
                          self->writing = false;
                          if (ec || self->dead || !self->want_write) return;
                          redisAsyncHandleWrite(self->ac);
                          if (!self->dead && self->want_write && !self->writing) self->arm_write();
                      });
    }

    static watcher& of(void* p) { return **static_cast<std::shared_ptr<watcher>*>(p); }
    static void attach(asio::io_context& io, redisAsyncContext* ac) {
        ac->ev.data = new std::shared_ptr<watcher>(std::make_shared<watcher>(io, ac));
        ac->ev.addRead = [](void* p) {
            auto& w = of(p);
            w.want_read = true;
            if (!w.reading) w.arm_read();
        };
        ac->ev.delRead = [](void* p) { of(p).want_read = false; };
        ac->ev.addWrite = [](void* p) {
            auto& w = of(p);
            w.want_write = true;
            if (!w.writing) w.arm_write();
        };
        ac->ev.delWrite = [](void* p) { of(p).want_write = false; };
        ac->ev.cleanup = [](void* p) {
            auto* holder = static_cast<std::shared_ptr<watcher>*>(p);
            auto& w = **holder;
            w.dead = true;
            w.want_read = w.want_write = false;
            boost::system::error_code ignored;
            w.sd.cancel(ignored);
            w.sd.release();
            delete holder;
        };
    }
};

/// What a caller waits for: the replies of the commands it sent together on one connection, or
/// the reason none came.
struct outcome {
    std::vector<reply> replies;
    std::string failure;  ///< not empty: the connection failed or was dropped
    bool unsent = false;  ///< the failure came before anything was sent: nothing ran
};

struct request {
    std::vector<std::vector<std::string>> commands;
    clock::time_point deadline;
    std::vector<reply> replies;
    std::size_t pending = 0;
    std::string failure;
    bool maybe_ran = false;  // a reply came, or a command was on a connection that had connected
    std::promise<outcome> done;
};

}  // namespace

struct client::impl {
    struct connection;

    explicit impl(client_options o) : options(std::move(o)), work(asio::make_work_guard(io)), sweep(io) {
        if (options.seeds.empty()) throw invalid_input(errc::config_error, "redis: no server url");
        start_sweep();
        thread = std::thread([this] { io.run(); });
    }

    ~impl() {
        asio::post(io, [this] {
            stopping = true;
            sweep.cancel();
            for (auto& [name, c] : connections) c->drop("client stopped");
            work.reset();
        });
        thread.join();
        std::lock_guard lock(wait_mutex);
        stopped = true;
        wait_cv.notify_all();
    }

    /// One connection to one node, used only on the io thread. Reconnects lazily (on the next
    /// command) once its backoff has passed.
    struct connection {
        impl& owner;
        endpoint ep;
        redisAsyncContext* ac = nullptr;
        bool connected = false;
        const redisAsyncContext* connected_ctx = nullptr;  // the context whose connect succeeded
        clock::time_point retry_at{};
        std::chrono::milliseconds backoff = 50ms;
        std::deque<clock::time_point> deadlines;  // of the commands sent, in order
        std::string last_error;

        connection(impl& o, endpoint e) : owner(o), ep(std::move(e)) {}

        bool usable() {
            if (ac != nullptr) return true;
            if (owner.stopping || clock::now() < retry_at) return false;
            connected_ctx = nullptr;
            ac = redisAsyncConnect(ep.host.c_str(), ep.port);
            if (ac == nullptr || ac->err) {
                last_error = ac != nullptr ? ac->errstr : "out of memory";
                if (ac != nullptr) redisAsyncFree(ac);
                ac = nullptr;
                failed();
                return false;
            }
            ac->data = this;
            watcher::attach(owner.io, ac);
            redisAsyncSetDisconnectCallback(ac, [](const redisAsyncContext* c, int) {
                auto* self = static_cast<connection*>(c->data);
                if (self == nullptr || self->ac != c) return;
                self->last_error = c->err ? c->errstr : "connection closed";
                self->ac = nullptr;
                self->connected = false;
                self->deadlines.clear();
                self->retry_at = clock::now() + 20ms;  // a restarted server: try again soon
            });
            redisAsyncSetConnectCallback(ac, [](const redisAsyncContext* c, int status) {
                auto* self = static_cast<connection*>(c->data);
                if (self == nullptr || self->ac != c) return;
                if (status == REDIS_OK) {
                    self->connected = true;
                    self->connected_ctx = c;
                    self->backoff = 50ms;
                    return;
                }
                // hiredis frees the context after this callback.
                self->last_error = c->errstr;
                self->ac = nullptr;
                self->deadlines.clear();
                self->failed();
            });
            return true;
        }

        void failed() {
            retry_at = clock::now() + backoff;
            backoff = std::min<std::chrono::milliseconds>(backoff * 2, 1000ms);
        }

        /// Drops the context: every pending command fails now (hiredis calls back with no reply).
        void drop(const std::string& why) {
            if (ac == nullptr) return;
            auto* old = ac;
            ac = nullptr;
            connected = false;
            deadlines.clear();
            last_error = why;
            old->data = nullptr;
            redisAsyncFree(old);
            failed();
        }
    };

    struct part {
        std::shared_ptr<request> req;
        std::size_t index;
        connection* conn;
        redisAsyncContext* ac;
    };

    static void on_reply(redisAsyncContext* ac, void* r, void* privdata) {
        std::unique_ptr<part> p(static_cast<part*>(privdata));
        if (p->conn->ac == ac && ac != nullptr && !p->conn->deadlines.empty()) p->conn->deadlines.pop_front();
        auto& req = *p->req;
        if (r == nullptr) {
            if (p->conn->connected_ctx == ac) req.maybe_ran = true;
            if (req.failure.empty()) {
                req.failure = "lost the connection to " + p->conn->ep.to_string() +
                              (p->conn->last_error.empty() ? "" : ": " + p->conn->last_error);
            }
        } else {
            req.maybe_ran = true;
            req.replies[p->index] = copy_reply(static_cast<redisReply*>(r));
        }
        if (--req.pending == 0) {
            req.done.set_value(outcome{std::move(req.replies), std::move(req.failure), !req.maybe_ran});
        }
    }

    connection& connection_to(const endpoint& ep) {
        auto key = ep.to_string();
        auto it = connections.find(key);
        if (it == connections.end())
            it = connections.emplace(key, std::make_unique<connection>(*this, ep)).first;
        return *it->second;
    }

    /// On the io thread: sends the request's commands back to back on one connection.
    void send(const endpoint& ep, const std::shared_ptr<request>& req) {
        auto& c = connection_to(ep);
        if (!c.usable()) {
            req->done.set_value(outcome{
                {},
                "cannot connect to " + ep.to_string() + (c.last_error.empty() ? "" : ": " + c.last_error),
                true});
            return;
        }
        req->replies.resize(req->commands.size());
        req->pending = req->commands.size();
        for (std::size_t i = 0; i < req->commands.size(); ++i) {
            const auto& cmd = req->commands[i];
            std::vector<const char*> argv;
            std::vector<std::size_t> lens;
            for (const auto& a : cmd) {
                argv.push_back(a.data());
                lens.push_back(a.size());
            }
            auto* p = new part{req, i, &c, c.ac};
            if (redisAsyncCommandArgv(c.ac, &impl::on_reply, p, static_cast<int>(argv.size()), argv.data(),
                                      lens.data()) != REDIS_OK) {
                delete p;
                if (req->failure.empty()) req->failure = "cannot send to " + ep.to_string();
                if (--req->pending == 0)
                    req->done.set_value(outcome{std::move(req->replies), std::move(req->failure)});
                continue;
            }
            c.deadlines.push_back(req->deadline);
        }
    }

    /// A connection whose oldest command is well past its deadline is stuck (a frozen server, a
    /// dead peer without a reset): drop it so that it reconnects, rather than queue behind it.
    void start_sweep() {
        sweep.expires_after(100ms);
        sweep.async_wait([this](boost::system::error_code ec) {
            if (ec || stopping) return;
            auto now = clock::now();
            for (auto& [name, c] : connections) {
                if (!c->deadlines.empty() && c->deadlines.front() + 250ms < now) {
                    spdlog::warn("redis {}: {} did not answer in time; reconnecting", options.name, name);
                    c->drop("no answer before the deadline");
                }
            }
            start_sweep();
        });
    }

    /// From a caller thread: sends the commands to one node; `collect` waits for them.
    std::future<outcome> submit(const endpoint& ep, std::vector<std::vector<std::string>> commands,
                                clock::time_point deadline) {
        auto req = std::make_shared<request>();
        req->commands = std::move(commands);
        req->deadline = deadline;
        auto future = req->done.get_future();
        asio::post(io, [this, ep, req] {
            if (stopping) {
                req->done.set_value(outcome{{}, "client stopped", true});
                return;
            }
            send(ep, req);
        });
        return future;
    }

    static outcome collect(std::future<outcome>& future, const endpoint& ep, clock::time_point deadline) {
        if (future.wait_until(deadline) != std::future_status::ready) {
            return outcome{{}, "no answer from " + ep.to_string() + " before the deadline"};
        }
        return future.get();
    }

    /// From a caller thread: runs the commands on one node and waits for them.
    outcome run(const endpoint& ep, std::vector<std::vector<std::string>> commands,
                clock::time_point deadline) {
        auto future = submit(ep, std::move(commands), deadline);
        return collect(future, ep, deadline);
    }

    bool is_stopped() {
        std::lock_guard lock(wait_mutex);
        return stopped;
    }

    /// Waits for `d` or until the deadline or a stop, whichever comes first.
    void pause(std::chrono::milliseconds d, clock::time_point deadline) {
        std::unique_lock lock(wait_mutex);
        wait_cv.wait_until(lock, std::min(clock::now() + d, deadline), [this] { return stopped; });
    }

    // --- cluster slot map (guarded by map_mutex) ---
    struct range {
        unsigned first, last;
        endpoint master;
    };

    std::optional<endpoint> owner_of(unsigned slot) {
        std::lock_guard lock(map_mutex);
        for (const auto& r : slots) {
            if (slot >= r.first && slot <= r.last) return r.master;
        }
        return std::nullopt;
    }

    void set_owner(unsigned slot, const endpoint& ep) {
        std::lock_guard lock(map_mutex);
        std::vector<range> next;
        for (const auto& r : slots) {
            if (slot < r.first || slot > r.last) {
                next.push_back(r);
                continue;
            }
            if (r.first < slot) next.push_back({r.first, slot - 1, r.master});
            if (slot < r.last) next.push_back({slot + 1, r.last, r.master});
        }
        next.push_back({slot, slot, ep});
        slots = std::move(next);
        ++map_version;
    }

    std::vector<endpoint> known_nodes() {
        std::vector<endpoint> out;
        {
            std::lock_guard lock(map_mutex);
            for (const auto& r : slots) {
                if (std::find(out.begin(), out.end(), r.master) == out.end()) out.push_back(r.master);
            }
        }
        for (const auto& s : options.seeds) {
            if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
        }
        return out;
    }

    /// Asks the known nodes in turn for `CLUSTER SLOTS`; true when one answered.
    bool refresh(clock::time_point deadline, std::string& failure) {
        for (const auto& node : known_nodes()) {
            auto per_node = std::min(deadline, clock::now() + 500ms);
            auto o = run(node, {{"CLUSTER", "SLOTS"}}, per_node);
            if (!o.failure.empty()) {
                failure = o.failure;
                continue;
            }
            const reply& r = o.replies.at(0);
            if (r.kind != reply::type::array || r.elements.empty()) {
                failure =
                    node.to_string() + " answered CLUSTER SLOTS with " + (r.is_error() ? r.str : "no slots");
                continue;
            }
            std::vector<range> next;
            for (const auto& e : r.elements) {
                if (e.elements.size() < 3 || e.elements[2].elements.size() < 2) continue;
                endpoint m{e.elements[2].elements[0].str,
                           static_cast<int>(e.elements[2].elements[1].integer)};
                if (m.host.empty() || m.host == "?")
                    m.host = node.host;  // "unknown endpoint": the one we asked
                next.push_back({static_cast<unsigned>(e.elements[0].integer),
                                static_cast<unsigned>(e.elements[1].integer), std::move(m)});
            }
            std::lock_guard lock(map_mutex);
            auto same = [&] {
                if (next.size() != slots.size()) return false;
                auto key = [](const range& x) {
                    return std::tie(x.first, x.last, x.master.host, x.master.port);
                };
                auto a = next, b = slots;
                auto less = [&](const range& x, const range& y) { return key(x) < key(y); };
                std::sort(a.begin(), a.end(), less);
                std::sort(b.begin(), b.end(), less);
                return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                                  [&](const range& x, const range& y) { return key(x) == key(y); });
            }();
            if (!same) {
                slots = std::move(next);
                ++map_version;
            }
            return true;
        }
        return false;
    }

    client_options options;
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work;
    asio::steady_timer sweep;
    bool stopping = false;                                           // io thread only
    std::map<std::string, std::unique_ptr<connection>> connections;  // io thread only
    std::thread thread;

    std::mutex wait_mutex;
    std::condition_variable wait_cv;
    bool stopped = false;

    std::atomic<std::uint64_t> moved{0}, asked{0};
    mutable std::mutex map_mutex;
    std::vector<range> slots;
    std::uint64_t map_version = 0;
};

client::client(client_options options) : impl_(std::make_unique<impl>(std::move(options))) {}
client::~client() = default;

namespace {

/// `MOVED 3999 127.0.0.1:6381` / `ASK 3999 127.0.0.1:6381`
bool parse_redirect(const std::string& error, std::string_view kind, unsigned& slot, endpoint& to) {
    std::string_view s = error;
    if (!s.starts_with(kind) || s.size() <= kind.size() || s[kind.size()] != ' ') return false;
    s.remove_prefix(kind.size() + 1);
    auto space = s.find(' ');
    if (space == std::string_view::npos) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + space, slot);
    if (ec != std::errc()) return false;
    try {
        to = parse_url(s.substr(space + 1));
    } catch (const sluice::error&) {
        return false;
    }
    return true;
}

bool transient(const std::string& error) {
    return error.starts_with("TRYAGAIN") || error.starts_with("CLUSTERDOWN") ||
           error.starts_with("LOADING") || error.starts_with("MASTERDOWN");
}

}  // namespace

reply client::call(std::string_view key, const std::vector<std::string>& args, clock::time_point deadline,
                   bool idempotent) {
    auto& m = *impl_;
    const unsigned slot = key_slot(key);
    std::string failure;
    std::optional<endpoint> ask;
    std::chrono::milliseconds backoff = 20ms;
    bool refresh_first = false;
    bool wait_first = false;  // after a failure; never after a redirection
    int redirections = 0;
    while (clock::now() < deadline && !m.is_stopped()) {
        if (wait_first) {
            m.pause(backoff, deadline);
            backoff = std::min<std::chrono::milliseconds>(backoff * 2, 500ms);
            if (clock::now() >= deadline) break;
        }
        wait_first = true;
        endpoint target = m.options.seeds.front();
        if (m.options.cluster) {
            if (refresh_first || !m.owner_of(slot)) {
                if (!m.refresh(deadline, failure)) continue;
                refresh_first = false;
            }
            if (ask) {
                target = *ask;
            } else if (auto owner = m.owner_of(slot)) {
                target = *owner;
            } else {
                failure = "no node serves slot " + std::to_string(slot);
                refresh_first = true;
                continue;
            }
        }
        std::vector<std::vector<std::string>> commands;
        if (ask) commands.push_back({"ASKING"});
        commands.push_back(args);
        const bool asked = ask.has_value();
        ask.reset();
        auto o = m.run(target, std::move(commands), deadline);
        if (!o.failure.empty()) {
            failure = o.failure;
            if (!idempotent && !o.unsent) {
                throw unavailable("registry", "redis: " + failure + " (the command may or may not have run)");
            }
            refresh_first = m.options.cluster;  // the node may have failed over or left
            continue;
        }
        reply r = std::move(o.replies.back());
        if (!r.is_error()) return r;
        unsigned to_slot = 0;
        endpoint to;
        const bool redirect = m.options.cluster && ++redirections <= 16;
        if (redirect && parse_redirect(r.str, "MOVED", to_slot, to)) {
            // The slot moved: reload the whole map (a resharding rarely moves one slot only),
            // and use the new owner at once even if the node we asked has not heard yet.
            ++m.moved;
            std::string ignored;
            m.refresh(deadline, ignored);
            if (m.owner_of(to_slot) != to) m.set_owner(to_slot, to);
            failure = r.str;
            wait_first = false;
            continue;
        }
        if (redirect && !asked && parse_redirect(r.str, "ASK", to_slot, to)) {
            ++m.asked;
            ask = to;  // this command only; the slot map stays
            failure = r.str;
            wait_first = false;
            continue;
        }
        if (transient(r.str)) {
            failure = r.str;
            refresh_first = m.options.cluster;
            continue;
        }
        return r;
    }
    throw unavailable("registry", "redis" + (m.options.name.empty() ? "" : " (" + m.options.name + ")") +
                                      ": " + (failure.empty() ? "deadline passed" : failure));
}

std::vector<reply> client::call_many(const std::vector<std::string>& keys,
                                     const std::vector<std::vector<std::string>>& commands,
                                     clock::time_point deadline) {
    auto& m = *impl_;
    std::vector<std::optional<reply>> replies(commands.size());
    // Each node's share as one pipeline, every node at once.
    struct share {
        endpoint node;
        std::vector<std::size_t> indexes;
        std::future<outcome> result;
    };
    std::vector<share> shares;
    auto share_of = [&](const endpoint& node) -> share& {
        for (auto& s : shares) {
            if (s.node == node) return s;
        }
        return shares.emplace_back(share{node, {}, {}});
    };
    bool refreshed = false;
    for (std::size_t i = 0; i < commands.size(); ++i) {
        if (!m.options.cluster) {
            share_of(m.options.seeds.front()).indexes.push_back(i);
            continue;
        }
        auto owner = m.owner_of(key_slot(keys.at(i)));
        if (!owner && !refreshed) {
            std::string ignored;
            refreshed = true;
            if (m.refresh(deadline, ignored)) owner = m.owner_of(key_slot(keys[i]));
        }
        if (owner) share_of(*owner).indexes.push_back(i);  // else left to `call` below
    }
    for (auto& s : shares) {
        std::vector<std::vector<std::string>> pipeline;
        pipeline.reserve(s.indexes.size());
        for (auto i : s.indexes) pipeline.push_back(commands[i]);
        s.result = m.submit(s.node, std::move(pipeline), deadline);
    }
    for (auto& s : shares) {
        auto o = impl::collect(s.result, s.node, deadline);
        if (!o.failure.empty()) continue;  // all of this share goes through `call`
        for (std::size_t j = 0; j < s.indexes.size() && j < o.replies.size(); ++j) {
            auto& r = o.replies[j];
            unsigned slot = 0;
            endpoint to;
            const bool redo = r.is_error() && (transient(r.str) || parse_redirect(r.str, "MOVED", slot, to) ||
                                               parse_redirect(r.str, "ASK", slot, to));
            if (!redo) replies[s.indexes[j]] = std::move(r);
        }
    }
    // What a pipeline could not do, one by one and in order, with redirections and retries.
    std::vector<reply> out;
    out.reserve(commands.size());
    for (std::size_t i = 0; i < commands.size(); ++i) {
        out.push_back(replies[i] ? std::move(*replies[i]) : call(keys.at(i), commands[i], deadline));
    }
    return out;
}

reply client::call_at(const endpoint& node, const std::vector<std::string>& args,
                      clock::time_point deadline) {
    auto o = impl_->run(node, {args}, deadline);
    if (!o.failure.empty()) throw unavailable("registry", "redis: " + o.failure);
    return std::move(o.replies.back());
}

std::vector<reply> client::pipeline_at(const endpoint& node, std::vector<std::vector<std::string>> commands,
                                       clock::time_point deadline) {
    if (commands.empty()) return {};
    auto o = impl_->run(node, std::move(commands), deadline);
    if (!o.failure.empty()) throw unavailable("registry", "redis: " + o.failure);
    return std::move(o.replies);
}

std::vector<endpoint> client::masters(clock::time_point deadline) {
    auto& m = *impl_;
    if (!m.options.cluster) return {m.options.seeds.front()};
    std::string failure;
    while (!m.refresh(deadline, failure)) {
        if (clock::now() >= deadline || m.is_stopped())
            throw unavailable("registry", "redis: cannot read the slot map: " + failure);
        m.pause(100ms, deadline);
    }
    std::vector<endpoint> out;
    std::lock_guard lock(m.map_mutex);
    for (const auto& r : m.slots) {
        if (std::find(out.begin(), out.end(), r.master) == out.end()) out.push_back(r.master);
    }
    return out;
}

std::uint64_t client::slot_map_version() const {
    std::lock_guard lock(impl_->map_mutex);
    return impl_->map_version;
}

void client::stop() {
    std::lock_guard lock(impl_->wait_mutex);
    impl_->stopped = true;
    impl_->wait_cv.notify_all();
}

client::redirections client::followed() const {
    return {impl_->moved.load(), impl_->asked.load()};
}

void client::refresh_slots(clock::time_point deadline) {
    if (!impl_->options.cluster) return;
    std::string failure;
    if (!impl_->refresh(deadline, failure))
        throw unavailable("registry", "redis: cannot read the slot map: " + failure);
}

}  // namespace sluice::redis::detail
