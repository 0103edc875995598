#include "ws_session.hpp"

#include "http_session.hpp"
#include "offload.hpp"

#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/json/serialize.hpp>

#include <array>

namespace sluice::net {

namespace bj = boost::json;

ws_session::ws_session(std::shared_ptr<server::impl> server, tcp::socket socket)
    : device_stream(std::move(server), socket.get_executor()), ws_(std::move(socket)), token_timer_(ws_.get_executor()) {}

asio::awaitable<void> ws_session::run(request_message request) {
    auto self = shared_from_this();
    ws_.next_layer().set_owner(self);
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.read_message_max(64 * 1024);
    // One frame per message, written in one go: a large message is not cut into 4 KiB fragments
    // (a write each), and a close (4008 too slow, 1001 at shutdown) never lands inside a message.
    ws_.auto_fragment(false);
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
                send_error(errc::invalid_input, "resume_from must be a number");
            }
        }
        auto registering = on_register(std::move(data));
        co_await std::move(registering);
    }
    beast::flat_buffer buffer;
    while (!closing_) {
        auto [read_ec, n] = co_await ws_.async_read(buffer, use_tuple);
        if (read_ec) break;
        if (!ws_.got_text()) {
            send_error(errc::invalid_frame, "frames must be JSON text");
        } else {
            auto handling = on_text(beast::buffers_to_string(buffer.data()));
            co_await std::move(handling);
        }
        buffer.consume(buffer.size());
    }
    token_timer_.cancel();
    finished();
}

device_stream::item ws_session::delivery(pipeline::frame_head head, std::uint64_t seq) {
    return {{}, std::move(head), std::to_string(seq) + "}"};
}

tcp::socket& ws_session::socket() { return beast::get_lowest_layer(ws_).socket(); }

void ws_session::write(const item& it, std::function<void(error_code)> done) {
    std::array<asio::const_buffer, 2> buffers{asio::buffer(*it.shared), asio::buffer(it.after)};
    ws_.text(true);
    ws_.async_write(buffers, [done = std::move(done)](error_code ec, std::size_t) { done(ec); });
}

// Deliveries are framed here and appended to the stream below the WebSocket, not written with
// `async_write`: the asynchronous write of Beast costs more than everything else a frame needs
// (two posts, a composed operation and its buffer adaptors: about 40 % of the process under
// fan-out, bench/transport), and the stream below turns a burst into one `send` anyway. A frame is
// what RFC 6455 §5.2 makes of one unfragmented, unmasked text message: FIN + opcode 1, the payload
// length in 7, 7+16 or 7+64 bits, the payload. No extension is negotiated (permessage-deflate is
// off), and Beast's own frames (pong, close) pass through the same stream whole, so frames never
// interleave.
bool ws_session::take_now(const item& it) {
    // Closing (a close frame came or went): Beast's own write refuses what may no longer be sent.
    if (!ws_.is_open()) return false;
    std::array<unsigned char, 10> header{};
    const std::uint64_t length = it.size();
    std::size_t n = 2;
    header[0] = 0x81;
    if (length < 126) {
        header[1] = static_cast<unsigned char>(length);
    } else if (length <= 0xffff) {
        header[1] = 126;
        header[2] = static_cast<unsigned char>(length >> 8);
        header[3] = static_cast<unsigned char>(length);
        n = 4;
    } else {
        header[1] = 127;
        for (int i = 0; i < 8; ++i) header[2 + i] = static_cast<unsigned char>(length >> (56 - 8 * i));
        n = 10;
    }
    const std::array<asio::const_buffer, 4> parts{asio::buffer(header.data(), n), asio::buffer(it.before), asio::buffer(*it.shared),
                                                  asio::buffer(it.after)};
    return ws_.next_layer().try_append(parts);
}

void ws_session::on_close(std::uint16_t code, const std::string& reason) {
    token_timer_.cancel();
    auto self = shared_from_this();
    ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(code), reason), [self](error_code) {});
    // A peer that does not read may never complete the close handshake.
    auto guard = std::make_shared<asio::steady_timer>(ws_.get_executor(), std::chrono::seconds(2));
    guard->async_wait([self, guard, this](error_code ec) {
        if (!ec) beast::get_lowest_layer(ws_).close();
    });
}

void ws_session::send_event(const char* event, bj::value data) {
    enqueue({{}, std::make_shared<const std::string>(bj::serialize(bj::object{{"event", event}, {"data", std::move(data)}})), {}});
}

void ws_session::send_error(errc code, const std::string& message) {
    send_event("error", bj::object{{"code", to_string(code)}, {"message", message}});
}

asio::awaitable<void> ws_session::on_text(std::string text) {
    bj::value message;
    try {
        message = parse_json(text, "message");
    } catch (const error& e) {
        send_error(e.kind(), e.what());
        co_return;
    }
    const auto* o = message.if_object();
    const auto* event = o ? o->if_contains("event") : nullptr;
    if (event == nullptr || !event->is_string()) {
        send_error(errc::invalid_input, "a message is {\"event\": NAME, \"data\": ...}");
        co_return;
    }
    const bj::value* data = o->if_contains("data");
    static const bj::value empty = bj::object{};
    if (data == nullptr) data = &empty;
    std::string_view name = event->get_string();
    if (name == "subscribe" || name == "unsubscribe") {
        if (!claims_) {
            send_error(errc::not_registered, "send 'register' with a token first");
        } else {
            auto handling = on_subscription(name == "subscribe", *data);
            co_await std::move(handling);
        }
        co_return;
    }
    if (name == "register") {
        auto registering = on_register(*data);
        co_await std::move(registering);
        co_return;
    }
    try {
        if (name == "refresh_access_token") {
            on_refresh(*data);
        } else {
            send_error(errc::unknown_event, "unknown event '" + std::string(name) + "'");
        }
    } catch (const error& e) {
        send_error(e.kind(), e.what());
    } catch (const std::exception& e) {
        send_error(errc::internal, e.what());
    }
}


asio::awaitable<void> ws_session::on_subscription(bool subscribe, bj::value data) {
    hold_deliveries();
    try {
        // (Each awaited operation is made in a statement of its own: g++ 12 may destroy twice the
        // temporaries of a full-expression that contains co_await.)
        auto& routes = server_->routes;
        if (subscribe) {
            std::function<bj::object()> work = [&routes, who = *claims_, data = std::move(data)] { return routes.subscribe(who, data); };
            auto subscribing = off_loop(routes, std::move(work));
            auto subscribed = co_await std::move(subscribing);
            send_event("subscribed", std::move(subscribed));
        } else {
            const auto* d = data.if_object();
            const auto* ch = d ? d->if_contains("channel") : nullptr;
            if (ch == nullptr || !ch->is_string()) {
                send_error(errc::invalid_input, "unsubscribe needs {\"channel\": NAME}");
            } else {
                std::string channel(ch->get_string());
                std::function<bool()> work = [&routes, who = *claims_, channel] { return routes.unsubscribe(who, channel); };
                auto unsubscribing = off_loop(routes, std::move(work));
                bool removed = co_await std::move(unsubscribing);
                send_event("unsubscribed", bj::object{{"channel", channel}, {"removed", removed}});
            }
        }
    } catch (const error& e) {
        send_error(e.kind(), e.what());
    } catch (const std::exception& e) {
        send_error(errc::internal, e.what());
    }
    release_deliveries();
}

std::optional<std::string> ws_session::token_of(const bj::value& data) {
    const auto* d = data.if_object();
    const auto* t = d ? d->if_contains("token") : nullptr;
    if (t == nullptr || !t->is_string()) {
        send_error(errc::invalid_input, "needs {\"token\": JWT}");
        return std::nullopt;
    }
    return std::string(t->get_string());
}

asio::awaitable<void> ws_session::on_register(bj::value data) {
    auto token = token_of(data);
    if (!token) co_return;
    auth::claims who;
    try {
        who = server_->routes.authenticate(*token);
    } catch (const auth::auth_error& e) {
        send_event("register", bj::object{{"success", false}, {"error", e.code()}, {"message", e.what()}});
        close_now(e.kind() == errc::token_expired ? close_code::token_expired : close_code::logged_out, e.what());
        co_return;
    }
    if (claims_ && claims_->device != who.device) {
        send_error(errc::invalid_input, "this socket is registered as another device");
        co_return;
    }
    std::optional<std::uint64_t> resume_from;
    const auto* d = data.if_object();
    if (const auto* r = d ? d->if_contains("resume_from") : nullptr; r && !r->is_null()) {
        if (!r->is_int64() && !r->is_uint64()) {
            send_error(errc::invalid_input, "resume_from must be a sequence number");
            co_return;
        }
        resume_from = r->to_number<std::uint64_t>();
    }
    if (claims_) {  // registered already: a new token for the same device
        claims_ = who;
        arm_token_timer();
        send_event("register", bj::object{{"success", true}, {"device", device_}, {"seq", last_seq_}});
        co_return;
    }
    claims_ = who;
    arm_token_timer();
    pipeline::device_hub::attach_result attached;
    try {
        auto joining = join(who, resume_from);
        attached = co_await std::move(joining);
    } catch (const std::exception& e) {
        // The device streams cannot be reached (shared streams: the log or directory is down).
        // Not registered: the client may try again.
        claims_.reset();
        token_timer_.cancel();
        release_deliveries();
        send_error(errc::unavailable, std::string("cannot join the device's stream now: ") + e.what());
        co_return;
    }
    send_event("register", bj::object{{"success", true}, {"device", device_}, {"seq", attached.seq}});
    if (attached.resync_required) {
        send_event("resync_required", bj::object{{"seq", attached.seq}, {"resume_from", *resume_from}});
    }
    for (auto& [seq, head] : attached.replay) enqueue(delivery(std::move(head), seq));
    release_deliveries();
}

void ws_session::on_refresh(const bj::value& data) {
    if (!claims_) return send_error(errc::not_registered, "send 'register' with a token first");
    auto token = token_of(data);
    if (!token) return;
    try {
        auto who = server_->routes.authenticate(*token);
        if (who.app != claims_->app || who.device != claims_->device || who.user != claims_->user)
            return send_error(errc::forbidden, "the new token is for another app, user or device");
        claims_ = who;
        arm_token_timer();
        send_event("refresh_access_token", bj::object{{"success", true}});
    } catch (const auth::auth_error& e) {
        send_error(e.kind(), e.what());
    }
}

void ws_session::arm_token_timer() {
    token_timer_.expires_at(std::chrono::steady_clock::now() + (claims_->expires - std::chrono::system_clock::now()));
    token_timer_.async_wait([self = shared_from_this(), this](error_code ec) {
        if (ec) return;
        send_error(errc::token_expired, "access token expired; refresh it with refresh_access_token");
        close_now(close_code::token_expired, "token expired");
    });
}

}  // namespace sluice::net
