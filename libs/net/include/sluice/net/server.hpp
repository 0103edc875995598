#pragma once
/// The HTTP API, WebSocket transport and operations endpoints on one listening socket
/// (DESIGN.md §7). HTTP runs on the given io_context; WebSocket sessions on event loops of their
/// own, one thread each (as many as the machine has cores, at most 8).
#include <sluice/net/context.hpp>

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace sluice::net {

class server {
public:
    server(boost::asio::io_context& io, context& ctx);
    ~server();
    /// Binds and starts accepting; returns the bound port (useful with port 0). Throws on failure.
    std::uint16_t start(const std::string& host, std::uint16_t port);
    /// Stops accepting, closes every WebSocket with 1001 (going away) and every SSE stream, lets
    /// in-flight requests finish, and then runs `drained` on the event loop: no device stream is
    /// open and no request waits for its answer (a peer that does not read its close frame is cut
    /// off after a few seconds). Requests on connections kept alive may still come afterwards.
    void stop(std::function<void()> drained = {});

    struct impl;  // private to server.cpp

private:
    std::unique_ptr<class device_loops> loops_;  ///< destroyed last: sessions may still hold impl_
    std::shared_ptr<impl> impl_;
};

}  // namespace sluice::net
