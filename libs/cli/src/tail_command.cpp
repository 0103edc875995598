// `sluice tail --app A --model M [--id I] [--user U] [--filter F] [--url U] [--token T | --data D]`:
// a subscription from a shell (DESIGN.md §11). Prints the snapshot, then every event, as JSON
// lines, until interrupted; reconnects with `resume_from` when the server goes away.
#include "commands.hpp"
#include "config_options.hpp"

#include <sluice/auth/tokens.hpp>
#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/json/filter.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include <chrono>
#include <iostream>
#include <optional>
#include <random>
#include <thread>

namespace sluice::cli {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace bj = boost::json;
using tcp = asio::ip::tcp;

struct tail_options : config_options {
    std::string app, model, id, user, filter, url = "http://127.0.0.1:8080", token;
};

/// What ends a tail: the server refused it (exit 2), as opposed to a lost connection (reconnect).
struct refused : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void print(const bj::value& line) { std::cout << bj::serialize(line) << std::endl; }

class tail {
public:
    tail(const tail_options& o, std::string host, std::string port, std::string token)
        : o_(o), host_(std::move(host)), port_(std::move(port)), token_(std::move(token)) {}

    /// Runs until the server refuses the subscription (throws `refused`).
    [[noreturn]] void run() {
        auto backoff = std::chrono::milliseconds(100);
        for (;;) {
            try {
                session();
            } catch (const refused&) {
                throw;
            } catch (const std::exception& e) {
                if (!announced_lost_) std::cerr << "sluice: connection to " << o_.url << " lost (" << e.what() << "); reconnecting\n";
                announced_lost_ = true;
            }
            std::this_thread::sleep_for(backoff);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
            if (connected_once_) backoff = std::min(backoff, std::chrono::milliseconds(1000));
        }
    }

private:
    /// One connection: register (resuming after what was printed), subscribe if needed, then
    /// print until the connection breaks.
    void session() {
        asio::io_context io;
        websocket::stream<beast::tcp_stream> ws(io);
        tcp::resolver resolver(io);
        beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(10));
        beast::get_lowest_layer(ws).connect(resolver.resolve(host_, port_));
        ws.handshake(host_ + ":" + port_, "/v1/ws");
        beast::get_lowest_layer(ws).expires_never();
        announced_lost_ = false;
        connected_once_ = true;
        bj::object reg{{"token", token_}};
        if (last_seq_) reg["resume_from"] = *last_seq_;
        send(ws, "register", reg);
        beast::flat_buffer buffer;
        for (;;) {
            buffer.clear();
            ws.read(buffer);
            auto frame = parse_json(beast::buffers_to_string(buffer.data()), "frame").as_object();
            const std::string event(frame.at("event").as_string());
            const auto& data = frame.contains("data") ? frame.at("data") : bj::value(nullptr);
            if (event == "register") {
                if (!data.at("success").as_bool()) throw refused("register: " + bj::serialize(data));
                if (!last_seq_) last_seq_ = data.at("seq").to_number<std::uint64_t>();
                if (!subscribed_) send(ws, "subscribe", subscription());
            } else if (event == "subscribed") {
                subscribed_ = true;
                for (const auto& doc : data.at("items").as_array())
                    print(bj::object{{"event", "snapshot"}, {"channel", data.at("channel")}, {"data", doc}});
            } else if (event == "resync_required") {
                // What was missed is gone: start again from a snapshot.
                print(frame);
                last_seq_ = data.at("seq").to_number<std::uint64_t>();
                send(ws, "subscribe", subscription());
            } else if (event == "error") {
                throw refused(bj::serialize(data));
            } else if (const auto* seq = frame.if_contains("seq")) {
                const auto n = seq->to_number<std::uint64_t>();
                if (last_seq_ && n <= *last_seq_) continue;  // printed before the reconnect
                last_seq_ = n;
                print(frame);
            }
        }
    }

    bj::object subscription() const {
        bj::object s{{"model", o_.model}};
        if (!o_.id.empty()) s["id"] = o_.id;
        if (!o_.user.empty()) s["user"] = o_.user;
        if (!o_.filter.empty()) s["filter"] = parse_json(o_.filter, "--filter");
        return s;
    }

    static void send(websocket::stream<beast::tcp_stream>& ws, const char* event, bj::object data) {
        ws.text(true);
        ws.write(asio::buffer(bj::serialize(bj::object{{"event", event}, {"data", std::move(data)}})));
    }

    const tail_options& o_;
    std::string host_, port_, token_;
    std::optional<std::uint64_t> last_seq_;
    bool subscribed_ = false;
    bool announced_lost_ = false;
    bool connected_once_ = false;
};

}  // namespace

command add_tail_command(CLI::App& app) {
    auto options = std::make_shared<tail_options>();
    auto* sub = app.add_subcommand("tail", "Print a subscription's snapshot, then its events, as JSON lines until interrupted");
    sub->add_option("--app", options->app, "App")->required();
    sub->add_option("--model", options->model, "Model")->required();
    sub->add_option("--id", options->id, "Only this document");
    sub->add_option("--user", options->user, "Only this user's documents");
    sub->add_option("--filter", options->filter, "Filter (MongoDB query syntax) as JSON");
    sub->add_option("--url", options->url, "Sluice's address (default http://127.0.0.1:8080)");
    sub->add_option("--token", options->token, "Access token (default: one minted from the configuration, user 'tail')");
    add_config_options(sub, *options, false);
    return {sub, [options] {
                const auto& o = *options;
                try {
                    if (!o.filter.empty()) json::filter::compile(parse_json(o.filter, "--filter"));
                } catch (const sluice::error& e) {
                    std::cerr << "sluice: invalid filter: " << e.what() << "\n";
                    return exit_bad_input;
                }
                auto url = boost::urls::parse_uri(o.url);
                if (!url || (url->scheme() != "http" && url->scheme() != "ws") || url->host().empty()) {
                    std::cerr << "sluice: --url must be http://host[:port], got '" << o.url << "'\n";
                    return exit_bad_input;
                }
                std::string token = o.token;
                if (token.empty()) {
                    try {
                        auto c = resolve(o);
                        std::random_device rd;
                        token = auth::authenticator(c.apps).mint(o.app, "tail", "tail-" + std::to_string(rd()), std::chrono::hours(24));
                    } catch (const std::exception& e) {
                        std::cerr << "sluice: cannot mint a token (give --token): " << e.what() << "\n";
                        return exit_bad_input;
                    }
                }
                try {
                    tail(o, std::string(url->host()), url->has_port() ? std::string(url->port()) : "80", token).run();
                } catch (const refused& e) {
                    std::cerr << "sluice: the server refused the subscription: " << e.what() << "\n";
                    return exit_bad_input;
                }
            }};
}

}  // namespace sluice::cli
