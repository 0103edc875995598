#pragma once
// Beast names shared by the transport files. Only the HTTP message and stream types: a file that
// reads or writes HTTP or WebSocket messages includes those operations itself.
#include "net.hpp"

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream_fwd.hpp>

namespace sluice::net {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
/// A request as the HTTP session read it.
using request_message = http::request<http::string_body>;

}  // namespace sluice::net
