#include <sluice/callout/http_client.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

namespace sluice::callout {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

struct target {
    std::string host, port, path;
};

std::optional<target> parse_url(const std::string& url) {
    auto u = boost::urls::parse_uri(url);
    if (!u || u->scheme() != "http" || u->host().empty()) return std::nullopt;
    target t{std::string(u->host()), u->has_port() ? std::string(u->port()) : "80", std::string(u->encoded_path())};
    if (t.path.empty()) t.path = "/";
    if (u->has_query()) t.path += "?" + std::string(u->encoded_query());
    return t;
}

}  // namespace

std::string url_problem(const std::string& url) {
    return parse_url(url) ? std::string() : "must be http://host[:port]/path, got '" + url + "'";
}

struct http_client::impl {
    std::string url;
    target where;
    asio::io_context io{1};
    beast::tcp_stream stream{io};
    beast::flat_buffer buffer;

    /// One request and its response within `timeout`; the reason on failure, and whether it was
    /// the timeout (the server is slow, not the connection stale).
    std::optional<std::string> exchange(http::request<http::string_body>& req, http::response<http::string_body>& res,
                                        std::chrono::milliseconds timeout, bool& timed_out) {
        std::optional<std::string> failed;
        timed_out = false;
        auto fail = [&](const char* step, beast::error_code ec) {
            timed_out = ec == beast::error::timeout;
            failed = std::string(step) + ": " + (timed_out ? "timed out after " + std::to_string(timeout.count()) + " ms" : ec.message());
            beast::error_code ignored;
            stream.socket().close(ignored);
        };
        auto send = [&] {
            stream.expires_after(timeout);
            http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
                if (ec) return fail("send", ec);
                res = {};
                buffer.clear();
                http::async_read(stream, buffer, res, [&](beast::error_code ec, std::size_t) {
                    if (ec) return fail("receive", ec);
                    if (!res.keep_alive()) {
                        beast::error_code ignored;
                        stream.socket().close(ignored);
                    }
                });
            });
        };
        if (stream.socket().is_open()) {
            send();
        } else {
            stream.expires_after(timeout);
            tcp::resolver resolver(io);
            beast::error_code ec;
            auto endpoints = resolver.resolve(where.host, where.port, ec);
            if (ec) return "resolve " + where.host + ": " + ec.message();
            stream.async_connect(endpoints, [&](beast::error_code ec, const tcp::endpoint&) {
                if (ec) return fail("connect", ec);
                send();
            });
        }
        io.restart();
        io.run();
        return failed;
    }
};

http_client::http_client(const std::string& url) : impl_(std::make_unique<impl>()) {
    auto t = parse_url(url);
    if (!t) throw failure("webhook URL " + url_problem(url));
    impl_->url = url;
    impl_->where = *t;
}

http_client::~http_client() = default;

http_client::response http_client::post(const std::string& body, const std::vector<std::pair<std::string, std::string>>& headers,
                                        std::chrono::milliseconds timeout) {
    auto& c = *impl_;
    http::request<http::string_body> req{http::verb::post, c.where.path, 11};
    req.set(http::field::host, c.where.host + ":" + c.where.port);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::user_agent, "sluice");
    for (const auto& [name, value] : headers) req.set(name, value);
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();
    http::response<http::string_body> res;
    const bool reused = c.stream.socket().is_open();
    bool timed_out = false;
    auto failed = c.exchange(req, res, timeout, timed_out);
    if (failed && reused && !timed_out) failed = c.exchange(req, res, timeout, timed_out);  // the server had closed it
    if (failed) throw failure("POST " + c.url + ": " + *failed);
    return {res.result_int(), std::move(res.body()), std::string(res[http::field::retry_after])};
}

void http_client::close() {
    beast::error_code ignored;
    impl_->stream.socket().close(ignored);
}

}  // namespace sluice::callout
