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
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

#include <deque>
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

class ws_session;

struct server::impl : std::enable_shared_from_this<server::impl> {
    asio::io_context& io;
    context& ctx;
    api routes;
    tcp::acceptor acceptor;
    std::set<std::shared_ptr<ws_session>> sessions;  // touched on the io thread only
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

// ----- WebSocket session -------------------------------------------------------------------------

/// One WebSocket of a device. Frames from the hub arrive on any thread and are posted here; at most
/// one write is in flight; queued bytes are bounded by `limits.send_queue_bytes`, past which the
/// socket is closed with 4008 (too slow). Protocol: DESIGN.md §7.
class ws_session : public pipeline::connection, public std::enable_shared_from_this<ws_session> {
public:
    ws_session(std::shared_ptr<server::impl> server, tcp::socket socket)
        : server_(std::move(server)), ws_(std::move(socket)), token_timer_(ws_.get_executor()) {}

    asio::awaitable<void> run(http::request<http::string_body> request) {
        ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
        ws_.read_message_max(64 * 1024);
        auto [ec] = co_await ws_.async_accept(request, use_tuple);
        if (ec) co_return;
        server_->sessions.insert(shared_from_this());
        server_->transport.connections.Increment();
        // The seed's way: a token in the URL registers the device at connect.
        if (auto url = boost::urls::parse_origin_form(request.target()); url) {
            auto it = url->params().find("token");
            if (it != url->params().end()) {
                bj::object data{{"token", std::string((*it).value)}};
                if (auto r = url->params().find("resume_from"); r != url->params().end()) {
                    try {
                        data["resume_from"] = std::stoull(std::string((*r).value));
                    } catch (const std::exception&) {
                        send_event("error", bj::object{{"code", "invalid_input"}, {"message", "resume_from must be a number"}});
                    }
                }
                on_register(data);
            }
        }
        beast::flat_buffer buffer;
        while (!closing_) {
            auto [read_ec, n] = co_await ws_.async_read(buffer, use_tuple);
            if (read_ec) break;
            if (!ws_.got_text()) {
                send_event("error", bj::object{{"code", "invalid_frame"}, {"message", "frames must be JSON text"}});
            } else {
                on_text(beast::buffers_to_string(buffer.data()));
            }
            buffer.consume(buffer.size());
        }
        finish();
    }

    // pipeline::connection (any thread)
    void send(pipeline::frame_head head, std::uint64_t seq) override {
        asio::post(ws_.get_executor(), [self = shared_from_this(), head = std::move(head), seq] {
            if (seq <= self->last_seq_) return;  // already sent while resuming
            self->last_seq_ = seq;
            self->enqueue({std::move(head), std::to_string(seq) + "}"});
        });
    }

    void close(std::uint16_t code, const std::string& reason) override {
        asio::post(ws_.get_executor(), [self = shared_from_this(), code, reason] { self->close_now(code, reason); });
    }

    void close_now(std::uint16_t code, const std::string& reason) {
        if (closing_) return;
        closing_ = true;
        queue_.clear();
        queued_bytes_ = 0;
        token_timer_.cancel();
        ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(code), reason), [self = shared_from_this()](beast::error_code) {});
        // A peer that does not read may never complete the close handshake.
        auto guard = std::make_shared<asio::steady_timer>(ws_.get_executor(), std::chrono::seconds(5));
        guard->async_wait([self = shared_from_this(), guard](beast::error_code ec) {
            if (!ec) beast::get_lowest_layer(self->ws_).close();
        });
    }

private:
    struct item {
        std::shared_ptr<const std::string> head;
        std::string tail;  // per-device "<seq>}" for deliveries
    };

    void enqueue(item it) {
        if (closing_) return;
        queued_bytes_ += it.head->size() + it.tail.size();
        if (queued_bytes_ > server_->ctx.config.limits.send_queue_bytes) {
            server_->transport.dropped.Increment(static_cast<double>(queue_.size() + 1));
            spdlog::warn("device {}: send queue over {} bytes, closing as too slow", device_, server_->ctx.config.limits.send_queue_bytes);
            close_now(close_code::too_slow, "too slow");
            return;
        }
        queue_.push_back(std::move(it));
        if (!writing_) write_next();
    }

    void write_next() {
        if (queue_.empty() || closing_) {
            writing_ = false;
            return;
        }
        writing_ = true;
        const auto& front = queue_.front();
        std::array<asio::const_buffer, 2> buffers{asio::buffer(*front.head), asio::buffer(front.tail)};
        ws_.text(true);
        ws_.async_write(buffers, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (self->queue_.empty()) return;  // cleared by close_now
            self->queued_bytes_ -= self->queue_.front().head->size() + self->queue_.front().tail.size();
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

    void send_event(const char* event, bj::value data) {
        enqueue({std::make_shared<const std::string>(bj::serialize(bj::object{{"event", event}, {"data", std::move(data)}})), {}});
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
            if (name == "unsubscribe") {
                const auto* d = data->if_object();
                const auto* ch = d ? d->if_contains("channel") : nullptr;
                if (ch == nullptr || !ch->is_string()) return send_error("invalid_input", "unsubscribe needs {\"channel\": NAME}");
                bool removed = server_->routes.unsubscribe(*claims_, std::string(ch->get_string()));
                return send_event("unsubscribed", bj::object{{"channel", *ch}, {"removed", removed}});
            }
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
        device_ = who.device;
        arm_token_timer();
        if (!first) return send_event("register", bj::object{{"success", true}, {"device", device_}, {"seq", last_seq_}});
        auto attached = server_->ctx.hub.attach(device_, shared_from_this(), resume_from);
        attached_ = true;
        last_seq_ = attached.seq;
        send_event("register", bj::object{{"success", true}, {"device", device_}, {"seq", attached.seq}});
        if (attached.resync_required) {
            send_event("resync_required", bj::object{{"seq", attached.seq}, {"resume_from", *resume_from}});
        }
        for (auto& [seq, head] : attached.replay) enqueue({std::move(head), std::to_string(seq) + "}"});
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
        token_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
            if (ec) return;
            self->send_error("token_expired", "access token expired; refresh it with refresh_access_token");
            self->close_now(close_code::token_expired, "token expired");
        });
    }

    void finish() {
        closing_ = true;
        token_timer_.cancel();
        if (attached_) server_->ctx.hub.detach(device_, this);
        attached_ = false;
        server_->transport.connections.Decrement();
        server_->sessions.erase(shared_from_this());
    }

    std::shared_ptr<server::impl> server_;
    websocket::stream<beast::tcp_stream> ws_;
    asio::steady_timer token_timer_;
    std::optional<auth::claims> claims_;
    std::string device_;
    bool attached_ = false;
    bool closing_ = false;
    bool writing_ = false;
    std::uint64_t last_seq_ = 0;
    std::deque<item> queue_;
    std::size_t queued_bytes_ = 0;
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
        if (ec == http::error::body_limit) {
            auto body = api::error_response("payload_too_large", "request body is over " + std::to_string(ctx.config.limits.max_body_bytes) + " bytes");
            http::response<http::string_body> res{http::status::payload_too_large, 11};
            res.set(http::field::content_type, body.content_type);
            res.set(http::field::connection, "close");
            res.body() = body.body;
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
        http_request in{std::string(request.method_string()), std::string(request.target()),
                        std::string(request[http::field::authorization]), std::move(request.body())};
        // The API may answer later (?wait=1) from another thread: wait on a timer it cancels.
        auto answer = std::make_shared<std::optional<http_response>>();
        auto ready = std::make_shared<asio::steady_timer>(stream.get_executor(), asio::steady_timer::time_point::max());
        routes.handle(in, [answer, ready](http_response r) {
            asio::post(ready->get_executor(), [answer, ready, r = std::move(r)]() mutable {
                *answer = std::move(r);
                ready->cancel();
            });
        });
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
