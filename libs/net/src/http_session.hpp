#pragma once
// One HTTP connection: reads requests (keep-alive), answers them through the API (at once, or
// later from another thread for `?wait=1`), and turns into a WebSocket or SSE session when asked.
#include "beast.hpp"
#include "server_state.hpp"

#include <boost/beast/core/flat_buffer.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::net {

class http_session : public std::enable_shared_from_this<http_session> {
public:
    http_session(std::shared_ptr<server::impl> server, tcp::socket socket);
    /// Serves the connection until it closes; the coroutine owns the session.
    void run();

private:
    asio::awaitable<void> serve();
    /// Answers a request the API routes; false when the connection must close.
    asio::awaitable<bool> answer(request_message request);
    /// `GET /v1/sse`: becomes an SSE session, or answers the refusal; false when the connection is done.
    asio::awaitable<bool> open_sse(request_message& request);
    /// `GET /ui/events`: the live page's state as Server-Sent Events, once a second, until the
    /// page goes away or the server stops.
    asio::awaitable<void> stream_ui(const request_message& request);
    /// 413 or 431 with `Connection: close`.
    asio::awaitable<void> refuse_oversized(bool body);
    /// A preflight (`OPTIONS`) or a WebSocket upgrade from another origin, with `[http]
    /// cors_origins` set: 204 with what the origin may do, or 403 for an origin not listed.
    asio::awaitable<bool> answer_cross_origin(const request_message& request, const std::string& origin);

    std::shared_ptr<server::impl> server_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
};

/// Adds `Access-Control-Allow-Origin` and `Vary: Origin` to the answer to a request whose
/// `Origin` is listed in `[http] cors_origins` (errors included, so a page can read them).
template <class Body>
void allow_origin(const cors_policy& cors, const request_message& request, http::response<Body>& res) {
    if (!cors.enabled()) return;
    auto origin = request[http::field::origin];
    if (!cors.allows(origin)) return;
    res.set(http::field::access_control_allow_origin, origin);
    res.set(http::field::vary, "Origin");
}

/// The query parameter `name` of a request target, if present (decoded).
std::optional<std::string> query_param(std::string_view target, std::string_view name);

}  // namespace sluice::net
