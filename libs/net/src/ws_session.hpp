#pragma once
// One WebSocket of a device. Protocol: DESIGN.md §7, docs/api.md.
#include "beast.hpp"
#include "coalescing_stream.hpp"
#include "device_stream.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <string>

namespace sluice::net {

class ws_session final : public device_stream {
public:
    ws_session(std::shared_ptr<server::impl> server, tcp::socket socket);
    /// Accepts the upgrade `request` and serves the socket until it closes.
    asio::awaitable<void> run(request_message request);

private:
    item delivery(pipeline::frame_head head, std::uint64_t seq) override;
    void write(const item& it, std::function<void(error_code)> done) override;
    void on_close(std::uint16_t code, const std::string& reason) override;
    tcp::socket& socket() override;
    void cork(bool on) override { ws_.next_layer().hold(on); }
    bool take_now(const item& it) override;

    void send_event(const char* event, boost::json::value data);
    void send_error(errc code, const std::string& message);
    /// Handles one message; subscribe and unsubscribe run on the API's pool, and the next message
    /// is read once they are answered, so answers keep the order of the messages.
    asio::awaitable<void> on_text(std::string text);
    asio::awaitable<void> on_subscription(bool subscribe, boost::json::value data);
    std::optional<std::string> token_of(const boost::json::value& data);
    asio::awaitable<void> on_register(boost::json::value data);
    void on_refresh(const boost::json::value& data);
    void arm_token_timer();

    websocket::stream<coalescing_stream<beast::tcp_stream>> ws_;
    asio::steady_timer token_timer_;
    std::optional<auth::claims> claims_;
};

}  // namespace sluice::net
