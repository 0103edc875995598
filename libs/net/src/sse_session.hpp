#pragma once
// `GET /v1/sse`: the device's stream as Server-Sent Events (one-way; subscriptions are made over
// HTTP). Each delivery is `id: SEQ`, `event: NAME`, `data: FRAME` where FRAME is the same JSON
// frame a WebSocket gets; a reconnect with `Last-Event-ID` (or `?resume_from=`) resumes. A
// comment line every 15 s keeps proxies from closing an idle stream.
#include "beast.hpp"
#include "device_stream.hpp"

#include <boost/asio/steady_timer.hpp>

#include <optional>

namespace sluice::net {

class sse_session final : public device_stream {
public:
    sse_session(std::shared_ptr<server::impl> server, beast::tcp_stream stream);
    /// Answers `request` with the event stream of the authenticated device until it goes away.
    asio::awaitable<void> run(const request_message& request, auth::claims who, std::optional<std::uint64_t> resume_from);

private:
    item delivery(pipeline::frame_head head, std::uint64_t seq) override;
    void write(const item& it, std::function<void(error_code)> done) override;
    void on_close(std::uint16_t code, const std::string& reason) override;
    tcp::socket& socket() override;
    void keepalive();

    beast::tcp_stream stream_;
    asio::steady_timer keepalive_;
};

}  // namespace sluice::net
