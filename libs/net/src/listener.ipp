#include "listener.hpp"

#include "http_session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <spdlog/spdlog.h>

namespace sluice::net {

listener::listener(std::shared_ptr<server::impl> server, const tcp::endpoint& endpoint)
    : server_(std::move(server)), acceptor_(server_->io) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
}

void listener::run() {
    asio::co_spawn(acceptor_.get_executor(), [self = shared_from_this()] { return self->accept_loop(); }, asio::detached);
}

void listener::stop() {
    error_code ignored;
    acceptor_.close(ignored);
}

asio::awaitable<void> listener::accept_loop() {
    while (!server_->stopping) {
        auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
        if (ec) {
            if (server_->stopping || ec == asio::error::operation_aborted) break;
            spdlog::warn("accept: {}", ec.message());
            continue;
        }
        // Small frames and answers go out at once: without this, Nagle holds a write while an
        // earlier one is unacknowledged, and the peer's delayed ACK makes that up to 40 ms.
        // (device_stream corks the socket while it drains a burst, so bursts still fill packets.)
        error_code option_ec;
        socket.set_option(tcp::no_delay(true), option_ec);
        if (option_ec) spdlog::warn("accept: TCP_NODELAY: {}", option_ec.message());
        std::make_shared<http_session>(server_, std::move(socket))->run();
    }
}

}  // namespace sluice::net
