// The transport TU: listener, HTTP sessions and WebSocket sessions on Beast. Everything else the
// server does lives in api.cpp (no Beast) so that this file is the only slow one to compile.
#include "api.hpp"

#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/net/server.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

#include <deque>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <set>

namespace sluice::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace bj = boost::json;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace close_code {
constexpr std::uint16_t logged_out = 4001;
constexpr std::uint16_t token_expired = 4002;
constexpr std::uint16_t too_slow = 4008;
}  // namespace close_code

class device_stream;

struct server::impl : std::enable_shared_from_this<server::impl> {
    asio::io_context& io;
    context& ctx;
    api routes;
    tcp::acceptor acceptor;
    std::set<std::shared_ptr<device_stream>> sessions;  // touched on the io thread only
    bool stopping = false;
    asio::steady_timer expiry;
    metrics::transport_metrics& transport;

    impl(asio::io_context& io_context, context& c)
        : io(io_context),
          ctx(c),
          routes(c, [this](std::chrono::milliseconds delay, std::function<void()> fn) { schedule(delay, std::move(fn)); }),
          acceptor(io_context),
          expiry(io_context),
          transport(c.metrics.transport("websocket")) {}

    void schedule(std::chrono::milliseconds delay, std::function<void()> fn) {
        auto timer = std::make_shared<asio::steady_timer>(io, delay);
        timer->async_wait([timer, fn = std::move(fn)](beast::error_code) { fn(); });
    }

    asio::awaitable<void> accept_loop();
    asio::awaitable<void> serve_http(beast::tcp_stream stream);
    void expire_devices();
};

// ----- device streams (WebSocket, SSE) ----------------------------------------------------------

/// What WebSocket and SSE sessions share: the link to the device hub, and a send queue with one
/// write in flight whose bytes are bounded by `limits.send_queue_bytes` (past it the stream is
/// closed as too slow, 4008 on a WebSocket). Frames from the hub arrive on any thread and are
/// posted to the stream's executor. Subclasses frame and write the bytes.
class device_stream : public pipeline::connection, public std::enable_shared_from_this<device_stream> {
public:
    device_stream(std::shared_ptr<server::impl> server, asio::any_io_executor executor)
        : server_(std::move(server)), executor_(std::move(executor)) {}

    void send(pipeline::frame_head head, std::uint64_t seq) override {
        asio::post(executor_, [self = shared_from_this(), head = std::move(head), seq] {
            if (seq <= self->last_seq_) return;  // already sent while resuming
            self->last_seq_ = seq;
            self->enqueue(self->delivery(std::move(head), seq));
        });
    }

    void close(std::uint16_t code, const std::string& reason) override {
        asio::post(executor_, [self = shared_from_this(), code, reason] { self->close_now(code, reason); });
    }

    void close_now(std::uint16_t code, const std::string& reason) {
        if (closing_) return;
        closing_ = true;
        queue_.clear();
        queued_bytes_ = 0;
        on_close(code, reason);
    }

protected:
    /// A frame as bytes: `before` + `*shared` + `after` (the shared part is the serialized frame).
    struct item {
        std::string before;
        std::shared_ptr<const std::string> shared;
        std::string after;
        std::size_t size() const { return before.size() + shared->size() + after.size(); }
    };

    virtual item delivery(pipeline::frame_head head, std::uint64_t seq) = 0;
    virtual void write(const item& it, std::function<void(beast::error_code)> done) = 0;
    virtual void on_close(std::uint16_t code, const std::string& reason) = 0;
    virtual tcp::socket& socket() = 0;

    void set_cork(bool on) {
        int value = on ? 1 : 0;
        ::setsockopt(socket().native_handle(), IPPROTO_TCP, TCP_CORK, &value, sizeof value);
        corked_ = on;
    }

    void enqueue(item it) {
        if (closing_) return;
        queued_bytes_ += it.size();
        if (queued_bytes_ > server_->ctx.config.limits.send_queue_bytes) {
            server_->transport.dropped.Increment(static_cast<double>(queue_.size() + 1));
            spdlog::warn("device {}: send queue over {} bytes, closing as too slow", device_,
                         server_->ctx.config.limits.send_queue_bytes);
            close_now(close_code::too_slow, "too slow");
            return;
        }
        queue_.push_back(std::move(it));
        if (!writing_) write_next();
    }

    void write_next() {
        if (queue_.empty() || closing_) {
            writing_ = false;
            if (corked_) set_cork(false);  // send what the burst left in the socket
            return;
        }
        // A burst of frames goes out in as few packets as possible: cork the socket until the
        // queue is drained (each frame still costs a syscall, but not a packet and a wake-up).
        if (!corked_ && queue_.size() > 1) set_cork(true);
        writing_ = true;
        write(queue_.front(), [self = shared_from_this()](beast::error_code ec) {
            if (self->queue_.empty()) return;  // cleared by close_now
            self->queued_bytes_ -= self->queue_.front().size();
            self->queue_.pop_front();
            if (ec) {
                self->server_->transport.dropped.Increment(static_cast<double>(self->queue_.size() + 1));
                self->queue_.clear();
                self->writing_ = false;
                return;
            }
            self->server_->transport.sent.Increment();
            self->write_next();
        });
    }

    /// Joins the device's stream: what it missed since `resume_from`, or a resync notice.
    pipeline::device_hub::attach_result attach(const auth::claims& who, std::optional<std::uint64_t> resume_from) {
        device_ = who.device;
        auto attached = server_->ctx.hub.attach(device_, shared_from_this(), resume_from);
        attached_ = true;
        last_seq_ = attached.seq;
        return attached;
    }

    void opened() {
        server_->sessions.insert(shared_from_this());
        server_->transport.connections.Increment();
    }

    void finished() {
        closing_ = true;
        if (attached_) server_->ctx.hub.detach(device_, this);
        attached_ = false;
        server_->transport.connections.Decrement();
        server_->sessions.erase(shared_from_this());
    }

    std::shared_ptr<server::impl> server_;
    asio::any_io_executor executor_;
    std::string device_;
    bool attached_ = false;
    bool closing_ = false;
    std::uint64_t last_seq_ = 0;

private:
    bool writing_ = false;
    bool corked_ = false;
    std::deque<item> queue_;
    std::size_t queued_bytes_ = 0;
};

/// The query parameter `name` of a request target, if present.
std::optional<std::string> query_param(std::string_view target, std::string_view name) {
    auto url = boost::urls::parse_origin_form(target);
    if (!url) return std::nullopt;
    auto it = url->params().find(name);
    if (it == url->params().end()) return std::nullopt;
    return std::string((*it).value);
}

// ----- WebSocket session -------------------------------------------------------------------------

/// One WebSocket of a device. Protocol: DESIGN.md §7, docs/api.md.
class ws_session final : public device_stream {
public:
    ws_session(std::shared_ptr<server::impl> server, tcp::socket socket)
        : device_stream(std::move(server), socket.get_executor()), ws_(std::move(socket)), token_timer_(ws_.get_executor()) {}

    asio::awaitable<void> run(http::request<http::string_body> request) {
        auto self = shared_from_this();
        ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
        ws_.read_message_max(64 * 1024);
        auto [ec] = co_await ws_.async_accept(request, use_tuple);
        if (ec) co_return;
        opened();
        // The seed's way: a token in the URL registers the device at connect.
        if (auto token = query_param(request.target(), "token")) {
            bj::object data{{"token", *token}};
            if (auto r = query_param(request.target(), "resume_from")) {
                try {
                    data["resume_from"] = std::stoull(*r);
                } catch (const std::exception&) {
                    send_error("invalid_input", "resume_from must be a number");
                }
            }
            on_register(data);
        }
        beast::flat_buffer buffer;
        while (!closing_) {
            auto [read_ec, n] = co_await ws_.async_read(buffer, use_tuple);
            if (read_ec) break;
            if (!ws_.got_text()) {
                send_error("invalid_frame", "frames must be JSON text");
            } else {
                on_text(beast::buffers_to_string(buffer.data()));
            }
            buffer.consume(buffer.size());
        }
        token_timer_.cancel();
        finished();
    }

private:
    item delivery(pipeline::frame_head head, std::uint64_t seq) override {
        return {{}, std::move(head), std::to_string(seq) + "}"};
    }

    tcp::socket& socket() override { return beast::get_lowest_layer(ws_).socket(); }

    void write(const item& it, std::function<void(beast::error_code)> done) override {
        std::array<asio::const_buffer, 2> buffers{asio::buffer(*it.shared), asio::buffer(it.after)};
        ws_.text(true);
        ws_.async_write(buffers, [done = std::move(done)](beast::error_code ec, std::size_t) { done(ec); });
    }

    void on_close(std::uint16_t code, const std::string& reason) override {
        token_timer_.cancel();
        auto self = shared_from_this();
        ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(code), reason), [self](beast::error_code) {});
        // A peer that does not read may never complete the close handshake.
        auto guard = std::make_shared<asio::steady_timer>(ws_.get_executor(), std::chrono::seconds(5));
        guard->async_wait([self, guard, this](beast::error_code ec) {
            if (!ec) beast::get_lowest_layer(ws_).close();
        });
    }

    void send_event(const char* event, bj::value data) {
        enqueue({{}, std::make_shared<const std::string>(bj::serialize(bj::object{{"event", event}, {"data", std::move(data)}})), {}});
    }

    void send_error(const std::string& code, const std::string& message) {
        send_event("error", bj::object{{"code", code}, {"message", message}});
    }

    void on_text(const std::string& text) {
        bj::value message;
        try {
            message = parse_json(text, "message");
        } catch (const error& e) {
            return send_error(e.code(), e.what());
        }
        const auto* o = message.if_object();
        const auto* event = o ? o->if_contains("event") : nullptr;
        if (event == nullptr || !event->is_string()) return send_error("invalid_input", "a message is {\"event\": NAME, \"data\": ...}");
        const bj::value* data = o->if_contains("data");
        static const bj::value empty = bj::object{};
        if (data == nullptr) data = &empty;
        std::string_view name = event->get_string();
        try {
            if (name != "register" && name != "refresh_access_token" && name != "subscribe" && name != "unsubscribe")
                return send_error("unknown_event", "unknown event '" + std::string(name) + "'");
            if (name == "register") return on_register(*data);
            if (name == "refresh_access_token") return on_refresh(*data);
            if (!claims_) return send_error("not_registered", "send 'register' with a token first");
            if (name == "subscribe") return send_event("subscribed", server_->routes.subscribe(*claims_, *data));
            const auto* d = data->if_object();
            const auto* ch = d ? d->if_contains("channel") : nullptr;
            if (ch == nullptr || !ch->is_string()) return send_error("invalid_input", "unsubscribe needs {\"channel\": NAME}");
            bool removed = server_->routes.unsubscribe(*claims_, std::string(ch->get_string()));
            send_event("unsubscribed", bj::object{{"channel", *ch}, {"removed", removed}});
        } catch (const error& e) {
            send_error(e.code(), e.what());
        } catch (const std::exception& e) {
            send_error("internal", e.what());
        }
    }

    std::optional<std::string> token_of(const bj::value& data) {
        const auto* d = data.if_object();
        const auto* t = d ? d->if_contains("token") : nullptr;
        if (t == nullptr || !t->is_string()) {
            send_error("invalid_input", "needs {\"token\": JWT}");
            return std::nullopt;
        }
        return std::string(t->get_string());
    }

    void on_register(const bj::value& data) {
        auto token = token_of(data);
        if (!token) return;
        auth::claims who;
        try {
            who = server_->routes.authenticate(*token);
        } catch (const auth::auth_error& e) {
            send_event("register", bj::object{{"success", false}, {"error", e.code()}, {"message", e.what()}});
            return close_now(e.code() == "token_expired" ? close_code::token_expired : close_code::logged_out, e.what());
        }
        if (claims_ && claims_->device != who.device) return send_error("invalid_input", "this socket is registered as another device");
        std::optional<std::uint64_t> resume_from;
        if (const auto* r = data.as_object().if_contains("resume_from"); r && !r->is_null()) {
            if (!r->is_int64() && !r->is_uint64()) return send_error("invalid_input", "resume_from must be a sequence number");
            resume_from = r->to_number<std::uint64_t>();
        }
        bool first = !claims_;
        claims_ = who;
        arm_token_timer();
        if (!first) return send_event("register", bj::object{{"success", true}, {"device", device_}, {"seq", last_seq_}});
        auto attached = attach(who, resume_from);
        send_event("register", bj::object{{"success", true}, {"device", device_}, {"seq", attached.seq}});
        if (attached.resync_required) {
            send_event("resync_required", bj::object{{"seq", attached.seq}, {"resume_from", *resume_from}});
        }
        for (auto& [seq, head] : attached.replay) enqueue(delivery(std::move(head), seq));
    }

    void on_refresh(const bj::value& data) {
        if (!claims_) return send_error("not_registered", "send 'register' with a token first");
        auto token = token_of(data);
        if (!token) return;
        try {
            auto who = server_->routes.authenticate(*token);
            if (who.app != claims_->app || who.device != claims_->device || who.user != claims_->user)
                return send_error("forbidden", "the new token is for another app, user or device");
            claims_ = who;
            arm_token_timer();
            send_event("refresh_access_token", bj::object{{"success", true}});
        } catch (const auth::auth_error& e) {
            send_error(e.code(), e.what());
        }
    }

    void arm_token_timer() {
        token_timer_.expires_at(std::chrono::steady_clock::now() + (claims_->expires - std::chrono::system_clock::now()));
        token_timer_.async_wait([self = shared_from_this(), this](beast::error_code ec) {
            if (ec) return;
            send_error("token_expired", "access token expired; refresh it with refresh_access_token");
            close_now(close_code::token_expired, "token expired");
        });
    }

    websocket::stream<beast::tcp_stream> ws_;
    asio::steady_timer token_timer_;
    std::optional<auth::claims> claims_;
};

// ----- Server-Sent Events ------------------------------------------------------------------------

/// `GET /v1/sse`: the device's stream as Server-Sent Events (one-way; subscriptions are made over
/// HTTP). Each delivery is `id: SEQ`, `event: NAME`, `data: FRAME` where FRAME is the same JSON
/// frame a WebSocket gets; a reconnect with `Last-Event-ID` (or `?resume_from=`) resumes. A
/// comment line every 15 s keeps proxies from closing an idle stream.
class sse_session final : public device_stream {
public:
    sse_session(std::shared_ptr<server::impl> server, beast::tcp_stream stream)
        : device_stream(std::move(server), stream.get_executor()), stream_(std::move(stream)), keepalive_(stream_.get_executor()) {}

    asio::awaitable<void> run(const http::request<http::string_body>& request, auth::claims who, std::optional<std::uint64_t> resume_from) {
        auto self = shared_from_this();
        http::response<http::empty_body> res{http::status::ok, request.version()};
        res.set(http::field::content_type, "text/event-stream");
        res.set(http::field::cache_control, "no-cache");
        res.set(http::field::server, "sluice");
        http::response_serializer<http::empty_body> serializer{res};
        stream_.expires_never();
        auto [ec, n] = co_await http::async_write_header(stream_, serializer, use_tuple);
        if (ec) co_return;
        opened();
        auto attached = attach(who, resume_from);
        bj::object hello{{"success", true}, {"device", device_}, {"seq", attached.seq}};
        enqueue({"event: register\ndata: ", std::make_shared<const std::string>(bj::serialize(hello)), "\n\n"});
        if (attached.resync_required) {
            bj::object resync{{"seq", attached.seq}, {"resume_from", *resume_from}};
            enqueue({"event: resync_required\ndata: ", std::make_shared<const std::string>(bj::serialize(resync)), "\n\n"});
        }
        for (auto& [seq, head] : attached.replay) enqueue(delivery(std::move(head), seq));
        keepalive();
        // The client sends nothing; a read completes when it goes away.
        char byte;
        while (!closing_) {
            auto [read_ec, got] = co_await stream_.socket().async_read_some(asio::buffer(&byte, 1), use_tuple);
            if (read_ec) break;
        }
        keepalive_.cancel();
        finished();
    }

private:
    item delivery(pipeline::frame_head head, std::uint64_t seq) override {
        // The head is `{"event":"NAME",...`: the SSE event name is read off it.
        constexpr std::string_view prefix = "{\"event\":\"";
        auto end = head->find('"', prefix.size());
        std::string name = head->substr(prefix.size(), end - prefix.size());
        auto id = std::to_string(seq);
        return {"id: " + id + "\nevent: " + name + "\ndata: ", std::move(head), id + "}\n\n"};
    }

    tcp::socket& socket() override { return stream_.socket(); }

    void write(const item& it, std::function<void(beast::error_code)> done) override {
        std::array<asio::const_buffer, 3> buffers{asio::buffer(it.before), asio::buffer(*it.shared), asio::buffer(it.after)};
        asio::async_write(stream_.socket(), buffers, [done = std::move(done)](beast::error_code ec, std::size_t) { done(ec); });
    }

    void on_close(std::uint16_t, const std::string&) override {
        keepalive_.cancel();
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }

    void keepalive() {
        keepalive_.expires_after(std::chrono::seconds(15));
        keepalive_.async_wait([self = shared_from_this(), this](beast::error_code ec) {
            if (ec || closing_) return;
            static const auto comment = std::make_shared<const std::string>(": keepalive\n\n");
            enqueue({{}, comment, {}});
            keepalive();
        });
    }

    beast::tcp_stream stream_;
    asio::steady_timer keepalive_;
};

// ----- HTTP --------------------------------------------------------------------------------------

asio::awaitable<void> server::impl::accept_loop() {
    auto self = shared_from_this();
    while (!stopping) {
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (ec) {
            if (stopping || ec == asio::error::operation_aborted) break;
            spdlog::warn("accept: {}", ec.message());
            continue;
        }
        asio::co_spawn(io, serve_http(beast::tcp_stream(std::move(socket))), asio::detached);
    }
}

asio::awaitable<void> server::impl::serve_http(beast::tcp_stream stream) {
    auto self = shared_from_this();
    beast::flat_buffer buffer;
    while (!stopping) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(ctx.config.limits.max_body_bytes);
        parser.header_limit(16 * 1024);
        stream.expires_after(std::chrono::seconds(60));
        auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
        if (ec == http::error::body_limit || ec == http::error::header_limit) {
            const bool body = ec == http::error::body_limit;
            auto refusal = body ? api::error_response("payload_too_large", "request body is over " +
                                                                               std::to_string(ctx.config.limits.max_body_bytes) + " bytes")
                                : api::error_response("bad_request", "request headers are over 16 KiB");
            http::response<http::string_body> res{body ? http::status::payload_too_large
                                                       : http::status::request_header_fields_too_large, 11};
            res.set(http::field::content_type, refusal.content_type);
            res.set(http::field::connection, "close");
            res.body() = refusal.body;
            res.prepare_payload();
            co_await http::async_write(stream, res, use_tuple);
            break;
        }
        if (ec) break;
        auto request = parser.release();
        if (websocket::is_upgrade(request)) {
            auto url = boost::urls::parse_origin_form(request.target());
            if (url && url->path() == "/v1/ws") {
                stream.expires_never();
                auto session = std::make_shared<ws_session>(self, stream.release_socket());
                co_await session->run(std::move(request));
                co_return;
            }
        }
        if (request.method() == http::verb::get && request.target().starts_with("/v1/sse")) {
            auto url = boost::urls::parse_origin_form(request.target());
            if (url && url->path() == "/v1/sse") {
                std::optional<http_response> refused;
                auth::claims who;
                std::optional<std::uint64_t> resume_from;
                try {
                    std::string token(request[http::field::authorization]);
                    token = token.starts_with("Bearer ") ? token.substr(7) : query_param(request.target(), "token").value_or("");
                    if (token.empty()) throw auth::auth_error("unauthorized", "missing token (Authorization: Bearer or ?token=)");
                    who = routes.authenticate(token);
                    auto last = std::string(request["Last-Event-ID"]);
                    if (last.empty()) last = query_param(request.target(), "resume_from").value_or("");
                    if (!last.empty()) resume_from = std::stoull(last);
                } catch (const error& e) {
                    refused = api::error_response(e.code(), e.what());
                } catch (const std::exception&) {
                    refused = api::error_response("invalid_input", "Last-Event-ID / resume_from must be a sequence number");
                }
                if (!refused) {
                    auto session = std::make_shared<sse_session>(self, std::move(stream));
                    co_await session->run(request, std::move(who), resume_from);
                    co_return;
                }
                http::response<http::string_body> res{static_cast<http::status>(refused->status), request.version()};
                res.set(http::field::content_type, refused->content_type);
                res.body() = refused->body;
                res.prepare_payload();
                co_await http::async_write(stream, res, use_tuple);
                continue;
            }
        }
        http_request in{std::string(request.method_string()), std::string(request.target()),
                        std::string(request[http::field::authorization]), std::move(request.body())};
        // The API may answer later (?wait=1) from another thread: wait on a timer it cancels.
        auto answer = std::make_shared<std::optional<http_response>>();
        auto ready = std::make_shared<asio::steady_timer>(stream.get_executor(), asio::steady_timer::time_point::max());
        auto respond = [answer, ready](http_response r) {
            asio::post(ready->get_executor(), [answer, ready, r = std::move(r)]() mutable {
                *answer = std::move(r);
                ready->cancel();
            });
        };
        try {
            routes.handle(in, respond);
        } catch (const std::exception& e) {  // api::handle answers its own errors; this is a last resort
            spdlog::error("http: {} {}: {}", in.method, in.target, e.what());
            if (!answer->has_value()) respond(api::error_response("internal", e.what()));
        }
        while (!answer->has_value()) co_await ready->async_wait(use_tuple);
        http::response<http::string_body> res{static_cast<http::status>((*answer)->status), request.version()};
        res.set(http::field::server, "sluice");
        res.set(http::field::content_type, (*answer)->content_type);
        res.keep_alive(request.keep_alive() && !stopping);
        res.body() = std::move((*answer)->body);
        res.prepare_payload();
        stream.expires_after(std::chrono::seconds(60));
        auto [write_ec, written] = co_await http::async_write(stream, res, use_tuple);
        if (write_ec || !res.keep_alive()) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

void server::impl::expire_devices() {
    expiry.expires_after(std::chrono::seconds(1));
    expiry.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (ec || self->stopping) return;
        for (const auto& device : self->ctx.hub.expire()) {
            spdlog::info("device {}: gone for longer than the grace period, subscriptions removed", device);
            self->ctx.registry.forget_device(device);
        }
        self->expire_devices();
    });
}

server::server(asio::io_context& io, context& ctx) : impl_(std::make_shared<impl>(io, ctx)) {}

server::~server() = default;

std::uint16_t server::start(const std::string& host, std::uint16_t port) {
    tcp::endpoint endpoint{asio::ip::make_address(host), port};
    impl_->acceptor.open(endpoint.protocol());
    impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
    impl_->acceptor.bind(endpoint);
    impl_->acceptor.listen(asio::socket_base::max_listen_connections);
    asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
    for (const auto& device : impl_->ctx.registry.devices()) impl_->ctx.hub.restore(device);
    impl_->expire_devices();
    return impl_->acceptor.local_endpoint().port();
}

void server::stop() {
    asio::post(impl_->io, [self = impl_] {
        self->stopping = true;
        beast::error_code ignored;
        self->acceptor.close(ignored);
        self->expiry.cancel();
        auto sessions = self->sessions;
        for (const auto& s : sessions) s->close_now(websocket::close_code::going_away, "server shutting down");
    });
}

}  // namespace sluice::net
