// Fan-out load generator (C++, Beast): opens N WebSocket clients against Sluice or the Node `ws`
// peer, writes R changes back to back, and measures how long until every socket has every change.
// A compiled client keeps the generator from being the bottleneck it is in JavaScript.
//
//   fanout_client --target sluice|node --port P --sockets N --rounds R [--secret S] [--pid SERVER_PID] [--threads T] [--reader raw|beast]
// The sockets are spread over T event loops, one thread each (default 2), and frames are counted
// from raw reads (--reader raw, default; --reader beast reads each with Beast): one thread reading
// every frame through Beast would be the bottleneck before the server is.
// Prints one JSON object.
#include <sluice/auth/tokens.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

struct options {
    std::string target = "sluice";
    std::uint16_t port = 0;
    std::size_t sockets = 10000;
    std::size_t rounds = 20;
    std::string secret;
    int pid = 0;
    std::size_t threads = 2;
    std::string reader = "raw";  ///< raw: count frames in what each read returns; beast: websocket::stream::async_read per frame
};

long rss_bytes(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6)) * 1024;
    }
    return 0;
}

struct state {
    options opt;
    std::unique_ptr<sluice::auth::authenticator> auth;
    std::vector<std::unique_ptr<asio::io_context>> loops;
    std::atomic<std::size_t> connected{0};
    std::atomic<std::size_t> received{0};
    std::size_t expected = 0;
    std::string model = "fan" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
};

asio::awaitable<void> client(state& s, std::size_t index) {
    auto ex = co_await asio::this_coro::executor;
    websocket::stream<beast::tcp_stream> ws(ex);
    co_await beast::get_lowest_layer(ws).async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), s.opt.port),
                                                       asio::use_awaitable);
    std::string path = "/";
    if (s.opt.target == "sluice") {
        path = "/v1/ws?token=" + s.auth->mint("demo", "bench", "dev-" + std::to_string(index), std::chrono::hours(1));
    }
    co_await ws.async_handshake("127.0.0.1", path, asio::use_awaitable);
    beast::flat_buffer buffer;
    if (s.opt.target == "sluice") {
        co_await ws.async_write(asio::buffer("{\"event\":\"subscribe\",\"data\":{\"model\":\"" + s.model + "\"}}"),
                                asio::use_awaitable);
        while (true) {  // register, then subscribed
            co_await ws.async_read(buffer, asio::use_awaitable);
            bool subscribed = beast::buffers_to_string(buffer.data()).find("\"subscribed\"") != std::string::npos;
            buffer.consume(buffer.size());
            if (subscribed) break;
        }
    }
    s.connected.fetch_add(1, std::memory_order_relaxed);
    if (s.opt.reader == "beast") {
        while (true) {
            auto [ec, n] = co_await ws.async_read(buffer, asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            buffer.consume(buffer.size());
            s.received.fetch_add(1, std::memory_order_relaxed);
        }
    }
    // Raw: read whatever the socket has and count whole frames by their headers (RFC 6455 §5.2),
    // so that a burst costs one read here as it costs one write on the server. Nothing was sent
    // to the socket before the writes start, so Beast has read nothing ahead.
    auto& socket = beast::get_lowest_layer(ws).socket();
    std::vector<unsigned char> in(64 * 1024);
    std::size_t have = 0;
    while (true) {
        auto [ec, n] = co_await socket.async_read_some(asio::buffer(in.data() + have, in.size() - have), asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        have += n;
        std::size_t at = 0, frames = 0;
        while (have - at >= 2) {
            std::uint64_t length = in[at + 1] & 0x7f;
            std::size_t header = 2;
            if (length == 126) header = 4;
            if (length == 127) header = 10;
            if (have - at < header) break;
            if (length == 126) length = (std::uint64_t{in[at + 2]} << 8) | in[at + 3];
            if (length == 127) {
                length = 0;
                for (int i = 0; i < 8; ++i) length = (length << 8) | in[at + 2 + i];
            }
            if (in.size() < header + length) in.resize(header + length);  // a frame larger than the buffer
            if (have - at < header + length) break;
            if ((in[at] & 0x0f) == 1 || (in[at] & 0x0f) == 2) ++frames;
            at += header + length;
        }
        std::memmove(in.data(), in.data() + at, have - at);
        have -= at;
        if (frames != 0) s.received.fetch_add(frames, std::memory_order_relaxed);
    }
}

asio::awaitable<void> post(tcp::socket& socket, const std::string& target, const std::string& body, const std::string& token) {
    http::request<http::string_body> req{http::verb::post, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    req.body() = body;
    req.prepare_payload();
    co_await http::async_write(socket, req, asio::use_awaitable);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    co_await http::async_read(socket, buffer, res, asio::use_awaitable);
    if (res.result_int() != 202) throw std::runtime_error("write answered " + std::to_string(res.result_int()) + ": " + res.body());
}

asio::awaitable<void> wait_until(std::function<bool()> done, std::chrono::seconds limit) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("timed out");
        timer.expires_after(std::chrono::milliseconds(1));
        co_await timer.async_wait(asio::use_awaitable);
    }
}

asio::awaitable<void> run(state& s) {
    auto ex = co_await asio::this_coro::executor;
    long before = s.opt.pid ? rss_bytes(s.opt.pid) : 0;
    // Connect in waves: a burst of 10k handshakes overruns the listen backlog.
    for (std::size_t i = 0; i < s.opt.sockets; i += 250) {
        std::size_t wave = std::min(s.opt.sockets, i + 250);
        for (std::size_t j = i; j < wave; ++j) asio::co_spawn(*s.loops[j % s.loops.size()], client(s, j), asio::detached);
        co_await wait_until([&] { return s.connected >= wave; }, std::chrono::seconds(60));
    }
    asio::steady_timer settle(ex, std::chrono::seconds(1));
    co_await settle.async_wait(asio::use_awaitable);
    long idle = s.opt.pid ? rss_bytes(s.opt.pid) : 0;

    tcp::socket http_socket(ex);
    co_await http_socket.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), s.opt.port), asio::use_awaitable);
    std::string token = s.opt.target == "sluice" ? s.auth->mint("demo", "writer", "writer-dev", std::chrono::hours(1)) : "";
    std::string body_text(200, 'x');
    s.received = 0;
    s.expected = s.opt.sockets * s.opt.rounds;
    auto start = std::chrono::steady_clock::now();
    for (std::size_t r = 0; r < s.opt.rounds; ++r) {
        std::string doc = "{\"title\":\"fan-out\",\"r\":" + std::to_string(r) + ",\"body\":\"" + body_text + "\"}";
        if (s.opt.target == "sluice") {
            co_await post(http_socket, "/v1/apps/demo/models/" + s.model, doc, token);
        } else {
            co_await post(http_socket, "/broadcast", "{\"event\":\"model_created\",\"data\":" + doc + "}", "");
        }
    }
    co_await wait_until([&] { return s.received >= s.expected; }, std::chrono::seconds(300));
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "{\"target\":\"" << s.opt.target << "\",\"sockets\":" << s.opt.sockets << ",\"rounds\":" << s.opt.rounds
              << ",\"seconds\":" << seconds << ",\"deliveries_per_second\":" << static_cast<double>(s.expected) / seconds
              << ",\"rss_before_bytes\":" << before << ",\"rss_idle_bytes\":" << idle
              << ",\"rss_per_idle_connection_bytes\":"
              << (s.opt.pid ? static_cast<double>(idle - before) / static_cast<double>(s.opt.sockets) : 0.0) << "}\n";
    std::cout.flush();
    std::exit(0);
}

}  // namespace

int main(int argc, char** argv) {
    state s;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--target") s.opt.target = v;
        if (k == "--port") s.opt.port = static_cast<std::uint16_t>(std::stoi(v));
        if (k == "--sockets") s.opt.sockets = std::stoul(v);
        if (k == "--rounds") s.opt.rounds = std::stoul(v);
        if (k == "--secret") s.opt.secret = v;
        if (k == "--pid") s.opt.pid = std::stoi(v);
        if (k == "--reader") s.opt.reader = v;
        if (k == "--threads") s.opt.threads = std::max<std::size_t>(1, std::stoul(v));
    }
    std::map<std::string, sluice::config::app_config> apps;
    if (!s.opt.secret.empty()) apps["demo"] = {"demo", s.opt.secret, {}, {}};
    s.auth = std::make_unique<sluice::auth::authenticator>(apps);
    for (std::size_t i = 0; i < s.opt.threads; ++i) s.loops.push_back(std::make_unique<asio::io_context>(1));
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < s.loops.size(); ++i) {
        guards.push_back(asio::make_work_guard(*s.loops[i]));
        threads.emplace_back([io = s.loops[i].get()] { io->run(); });
    }
    auto& io = *s.loops[0];
    asio::co_spawn(io, run(s), [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            std::cerr << "fanout_client: " << x.what() << "\n";
            std::exit(1);
        }
    });
    io.run();
}
