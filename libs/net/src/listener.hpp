#pragma once
// Accepts connections and hands each to an HTTP session.
#include "net.hpp"
#include "server_state.hpp"

#include <memory>

namespace sluice::net {

class listener : public std::enable_shared_from_this<listener> {
public:
    /// Opens, binds and listens; throws on failure.
    listener(std::shared_ptr<server::impl> server, const tcp::endpoint& endpoint);
    tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
    /// Starts the accept loop, which owns the listener from then on.
    void run();
    /// Stops accepting (on the event loop).
    void stop();

private:
    asio::awaitable<void> accept_loop();

    std::shared_ptr<server::impl> server_;
    tcp::acceptor acceptor_;
};

}  // namespace sluice::net
