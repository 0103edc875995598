#include "http_session.hpp"

#include "sse_session.hpp"
#include "ws_session.hpp"

#include <sluice/core/error.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

namespace sluice::net {

std::optional<std::string> query_param(std::string_view target, std::string_view name) {
    auto url = boost::urls::parse_origin_form(target);
    if (!url) return std::nullopt;
    auto it = url->params().find(name);
    if (it == url->params().end()) return std::nullopt;
    return std::string((*it).value);
}

http_session::http_session(std::shared_ptr<server::impl> server, tcp::socket socket)
    : server_(std::move(server)), stream_(std::move(socket)) {}

void http_session::run() {
    asio::co_spawn(stream_.get_executor(), [self = shared_from_this()] { return self->serve(); }, asio::detached);
}

asio::awaitable<void> http_session::serve() {
    while (!server_->stopping) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(server_->ctx.config.limits.max_body_bytes);
        parser.header_limit(16 * 1024);
        stream_.expires_after(std::chrono::seconds(60));
        auto [ec, n] = co_await http::async_read(stream_, buffer_, parser, use_tuple);
        if (ec == http::error::body_limit || ec == http::error::header_limit) {
            co_await refuse_oversized(ec == http::error::body_limit);
            break;
        }
        if (ec) break;
        auto request = parser.release();
        if (server_->cors.enabled() && request.count(http::field::origin)) {
            const std::string origin(request[http::field::origin]);
            // A browser page of another origin: preflights are answered here, without a token;
            // a WebSocket from an origin not listed is refused (a browser would let it through).
            if (!origin.empty() && (request.method() == http::verb::options || (websocket::is_upgrade(request) && !server_->cors.allows(origin)))) {
                if (!co_await answer_cross_origin(request, origin)) break;
                continue;
            }
        }
        if (websocket::is_upgrade(request) && server_->ctx.serves.devices) {
            auto url = boost::urls::parse_origin_form(request.target());
            if (url && url->path() == "/v1/ws") {
                stream_.expires_never();
                // The session moves to a device loop (server_state.hpp) with its socket.
                auto& loop = server_->loops->next();
                auto socket = stream_.release_socket();
                error_code ec;
                auto protocol = socket.local_endpoint(ec).protocol();
                if (ec) co_return;
                tcp::socket moved(loop, protocol, socket.release());
                auto session = std::make_shared<ws_session>(server_, std::move(moved));
                asio::co_spawn(
                    loop, [session, request = std::move(request)]() mutable { return session->run(std::move(request)); }, asio::detached);
                co_return;
            }
        }
        if (request.method() == http::verb::get && request.target().starts_with("/v1/sse") && server_->ctx.serves.devices) {
            auto url = boost::urls::parse_origin_form(request.target());
            if (url && url->path() == "/v1/sse") {
                if (co_await open_sse(request)) continue;
                co_return;
            }
        }
        if (request.method() == http::verb::get && request.target() == "/ui/events") {
            auto streaming = stream_ui(request);
            co_await std::move(streaming);
            co_return;
        }
        auto answering = answer(std::move(request));  // (not a temporary of the co_await: see ws_session.cpp)
        if (!co_await std::move(answering)) break;
    }
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> http_session::refuse_oversized(bool body) {
    const auto& limits = server_->ctx.config.limits;
    auto refusal = body ? api::error_response(errc::payload_too_large, "request body is over " + std::to_string(limits.max_body_bytes) + " bytes")
                        : api::error_response(errc::bad_request, "request headers are over 16 KiB");
    http::response<http::string_body> res{body ? http::status::payload_too_large : http::status::request_header_fields_too_large, 11};
    res.set(http::field::content_type, refusal.content_type);
    res.set(http::field::connection, "close");
    res.body() = refusal.body;
    res.prepare_payload();
    co_await http::async_write(stream_, res, use_tuple);
}

asio::awaitable<bool> http_session::open_sse(request_message& request) {
    std::optional<http_response> refused;
    auth::claims who;
    std::optional<std::uint64_t> resume_from;
    try {
        std::string token(request[http::field::authorization]);
        token = token.starts_with("Bearer ") ? token.substr(7) : query_param(request.target(), "token").value_or("");
        if (token.empty()) throw auth::auth_error(errc::unauthorized, "missing token (Authorization: Bearer or ?token=)");
        who = server_->routes.authenticate(token);
        auto last = std::string(request["Last-Event-ID"]);
        if (last.empty()) last = query_param(request.target(), "resume_from").value_or("");
        if (!last.empty()) resume_from = std::stoull(last);
    } catch (const error& e) {
        refused = api::error_response(e.kind(), e.what());
    } catch (const std::exception&) {
        refused = api::error_response(errc::invalid_input, "Last-Event-ID / resume_from must be a sequence number");
    }
    if (!refused) {
        auto session = std::make_shared<sse_session>(server_, std::move(stream_));
        co_await session->run(request, std::move(who), resume_from);
        co_return false;
    }
    http::response<http::string_body> res{static_cast<http::status>(refused->status), request.version()};
    res.set(http::field::content_type, refused->content_type);
    allow_origin(server_->cors, request, res);
    res.body() = refused->body;
    res.prepare_payload();
    co_await http::async_write(stream_, res, use_tuple);
    co_return true;
}

asio::awaitable<bool> http_session::answer_cross_origin(const request_message& request, const std::string& origin) {
    http::response<http::string_body> res;
    res.version(request.version());
    res.set(http::field::server, "sluice");
    res.set(http::field::vary, "Origin");
    if (!server_->cors.allows(origin)) {
        auto refusal = api::error_response(errc::forbidden, "origin '" + origin + "' is not in [http] cors_origins");
        res.result(http::status::forbidden);
        res.set(http::field::content_type, refusal.content_type);
        res.body() = refusal.body;
    } else {
        res.result(http::status::no_content);
        res.set(http::field::access_control_allow_origin, origin);
        res.set(http::field::access_control_allow_methods, cors_policy::allowed_methods);
        res.set(http::field::access_control_allow_headers, cors_policy::allowed_headers);
        res.set(http::field::access_control_max_age, cors_policy::max_age_seconds);
    }
    res.keep_alive(request.keep_alive() && !server_->stopping && res.result() == http::status::no_content);
    res.prepare_payload();
    stream_.expires_after(std::chrono::seconds(60));
    auto [ec, n] = co_await http::async_write(stream_, res, use_tuple);
    co_return !ec && res.keep_alive();
}

/// Where the API's answer to one request lands. The API may answer from another thread (its
/// blocking pool, `?wait=1`), so the answer is posted to the session's executor, where it cancels the timer the session waits on.
struct pending_answer {
    explicit pending_answer(const asio::any_io_executor& executor) : ready(executor, asio::steady_timer::time_point::max()) {}
    std::optional<http_response> response;
    asio::steady_timer ready;
};

/// The `respond` callback for the API; the first answer counts.
std::function<void(http_response)> responder(std::shared_ptr<pending_answer> pending) {
    return [pending = std::move(pending)](http_response r) {
        asio::post(pending->ready.get_executor(), [pending, r = std::move(r)]() mutable {
            if (pending->response) return;
            pending->response = std::move(r);
            pending->ready.cancel();
        });
    };
}

/// A request counted as in flight while it lives, so that stopping waits for its answer.
struct request_in_flight {
    std::shared_ptr<server::impl> state;
    explicit request_in_flight(std::shared_ptr<server::impl> s) : state(std::move(s)) { ++state->requests_in_flight; }
    request_in_flight(const request_in_flight&) = delete;
    request_in_flight& operator=(const request_in_flight&) = delete;
    ~request_in_flight() {
        --state->requests_in_flight;
        state->check_drained();
    }
};

asio::awaitable<bool> http_session::answer(request_message request) {
    request_in_flight counted(server_);
    http_request in{std::string(request.method_string()), std::string(request.target()),
                    std::string(request[http::field::authorization]), std::move(request.body())};
    auto pending = std::make_shared<pending_answer>(stream_.get_executor());
    auto respond = responder(pending);
    try {
        server_->routes.handle(std::move(in), respond);
    } catch (const std::exception& e) {  // api::handle answers its own errors; this is a last resort
        spdlog::error("http: {} {}: {}", std::string_view(request.method_string()), std::string_view(request.target()), e.what());
        respond(api::error_response(errc::internal, e.what()));
    }
    while (!pending->response) co_await pending->ready.async_wait(use_tuple);
    http::response<http::string_body> res{static_cast<http::status>(pending->response->status), request.version()};
    res.set(http::field::server, "sluice");
    res.set(http::field::content_type, pending->response->content_type);
    allow_origin(server_->cors, request, res);
    res.keep_alive(request.keep_alive() && !server_->stopping);
    res.body() = std::move(pending->response->body);
    res.prepare_payload();
    stream_.expires_after(std::chrono::seconds(60));
    auto [write_ec, written] = co_await http::async_write(stream_, res, use_tuple);
    co_return !write_ec && res.keep_alive();
}

asio::awaitable<void> http_session::stream_ui(const request_message& request) {
    http::response<http::empty_body> res{http::status::ok, request.version()};
    res.set(http::field::content_type, "text/event-stream");
    res.set(http::field::cache_control, "no-cache");
    res.set(http::field::server, "sluice");
    allow_origin(server_->cors, request, res);
    http::response_serializer<http::empty_body> serializer{res};
    stream_.expires_after(std::chrono::seconds(10));
    auto [ec, n] = co_await http::async_write_header(stream_, serializer, use_tuple);
    if (ec) co_return;
    asio::steady_timer tick(stream_.get_executor());
    while (!server_->stopping) {
        // The state reads queue statistics, which may block: it is made on the API's pool.
        auto pending = std::make_shared<pending_answer>(stream_.get_executor());
        server_->routes.offload([&routes = server_->routes, respond = responder(pending)] {
            try {
                respond(http_response{200, boost::json::serialize(routes.ui_state())});
            } catch (const std::exception& e) {
                respond(api::error_response(errc::unavailable, e.what()));
            }
        });
        while (!pending->response) co_await pending->ready.async_wait(use_tuple);
        if (server_->stopping) break;
        const bool ok = pending->response->status == 200;
        auto chunk = std::string(ok ? "event: state\ndata: " : "event: problem\ndata: ") + pending->response->body + "\n\n";
        stream_.expires_after(std::chrono::seconds(10));
        auto [write_ec, written] = co_await asio::async_write(stream_, asio::buffer(chunk), use_tuple);
        if (write_ec) break;
        tick.expires_after(std::chrono::seconds(1));
        co_await tick.async_wait(use_tuple);
    }
}

}  // namespace sluice::net
