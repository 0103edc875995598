#pragma once
/// The HTTP API, WebSocket transport and operations endpoints on one listening socket
/// (DESIGN.md §7). Runs on the given io_context; `stop()` stops accepting, closes every WebSocket
/// with 1001 (going away) and lets in-flight requests finish.
#include <sluice/net/context.hpp>

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace sluice::net {

class server {
public:
    server(boost::asio::io_context& io, context& ctx);
    ~server();
    /// Binds and starts accepting; returns the bound port (useful with port 0). Throws on failure.
    std::uint16_t start(const std::string& host, std::uint16_t port);
    void stop();

    struct impl;  // private to server.cpp

private:
    std::shared_ptr<impl> impl_;
};

}  // namespace sluice::net
