// `kind = "webhook"` stages: an HTTP POST per message, on a keep-alive connection per instance.
#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/pipeline/stages.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

#include <charconv>

namespace sluice::pipeline {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct target {
    std::string host, port, path;
};

target parse_url(const std::string& url, const std::string& stage) {
    auto u = boost::urls::parse_uri(url);
    if (!u || u->scheme() != "http" || u->host().empty())
        throw config::config_error("config key 'stages." + stage + ".url': must be http://host[:port]/path, got '" + url + "'");
    target t{std::string(u->host()), u->has_port() ? std::string(u->port()) : "80", std::string(u->encoded_path())};
    if (t.path.empty()) t.path = "/";
    if (u->has_query()) t.path += "?" + std::string(u->encoded_query());
    return t;
}

/// Seconds of a `Retry-After` header (the delta form; an HTTP date is ignored).
std::chrono::milliseconds retry_after(std::string_view header) {
    unsigned seconds = 0;
    auto [end, ec] = std::from_chars(header.data(), header.data() + header.size(), seconds);
    if (ec != std::errc() || end != header.data() + header.size()) return {};
    return std::chrono::seconds(seconds);
}

class webhook_stage final : public stage {
public:
    explicit webhook_stage(const config::stage_config& c) : config_(c), target_(parse_url(c.url, c.name)), stream_(io_) {}

    std::vector<outcome> handle(const std::vector<queue::message>& batch) override {
        std::vector<outcome> outcomes;
        for (const auto& m : batch) outcomes.push_back(handle_one(m));
        return outcomes;
    }

    void stop() override {
        beast::error_code ignored;
        stream_.socket().close(ignored);
    }

private:
    outcome handle_one(const queue::message& m) {
        http::request<http::string_body> req{http::verb::post, target_.path, 11};
        req.set(http::field::host, target_.host + ":" + target_.port);
        req.set(http::field::content_type, "application/json");
        req.set(http::field::user_agent, "sluice");
        req.set("Sluice-Stage", config_.name);
        req.set("Sluice-Attempt", std::to_string(m.attempt));
        req.set("Sluice-Op", m.headers.op);
        req.keep_alive(true);
        req.body() = m.body;
        req.prepare_payload();
        http::response<http::string_body> res;
        const bool reused = stream_.socket().is_open();
        auto failure = exchange(req, res);
        if (failure && reused && !timed_out_) {  // a kept-alive connection the server had closed: once more, fresh
            failure = exchange(req, res);
        }
        if (failure) return outcome::retry("POST " + config_.url + ": " + *failure);
        auto status = res.result_int();
        if (status >= 200 && status < 300) {
            if (res.body().find_first_not_of(" \t\r\n") == std::string::npos) return outcome::forward(m.body);
            try {
                return reply::from_json(parse_json(res.body(), "webhook reply")).to_outcome(m.body);
            } catch (const std::exception& e) {
                return outcome::retry(std::string("webhook answered ") + std::to_string(status) + " with " + e.what());
            }
        }
        std::string what = "HTTP " + std::to_string(status) + ": " + res.body().substr(0, 200);
        if (status == 408 || status == 429 || status >= 500) return outcome::retry(what, retry_after(res[http::field::retry_after]));
        return outcome::dead(what);
    }

    /// One request and its response within `timeout_ms`; the reason on failure.
    std::optional<std::string> exchange(http::request<http::string_body>& req, http::response<http::string_body>& res) {
        std::optional<std::string> failure;
        timed_out_ = false;
        auto fail = [&](const char* step, beast::error_code ec) {
            timed_out_ = ec == beast::error::timeout;  // the webhook is slow, not the connection stale
            failure = std::string(step) + ": " + (ec == beast::error::timeout ? "timed out after " + std::to_string(config_.timeout.count()) + " ms"
                                                                              : ec.message());
            beast::error_code ignored;
            stream_.socket().close(ignored);
        };
        auto send = [&] {
            stream_.expires_after(config_.timeout);
            http::async_write(stream_, req, [&](beast::error_code ec, std::size_t) {
                if (ec) return fail("send", ec);
                res = {};
                buffer_.clear();
                http::async_read(stream_, buffer_, res, [&](beast::error_code ec, std::size_t) {
                    if (ec) return fail("receive", ec);
                    if (!res.keep_alive()) {
                        beast::error_code ignored;
                        stream_.socket().close(ignored);
                    }
                });
            });
        };
        if (stream_.socket().is_open()) {
            send();
        } else {
            stream_.expires_after(config_.timeout);
            tcp::resolver resolver(io_);
            beast::error_code ec;
            auto endpoints = resolver.resolve(target_.host, target_.port, ec);
            if (ec) return "resolve " + target_.host + ": " + ec.message();
            stream_.async_connect(endpoints, [&](beast::error_code ec, const tcp::endpoint&) {
                if (ec) return fail("connect", ec);
                send();
            });
        }
        io_.restart();
        io_.run();
        return failure;
    }

    const config::stage_config& config_;
    target target_;
    asio::io_context io_{1};
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    bool timed_out_ = false;  // the last exchange failed by taking longer than timeout_ms
};

}  // namespace

stage_factory make_webhook_stage(const config::stage_config& c) {
    parse_url(c.url, c.name);  // a bad URL stops start-up
    return [&c](std::size_t) { return std::make_unique<webhook_stage>(c); };
}

}  // namespace sluice::pipeline
