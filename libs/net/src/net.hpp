#pragma once
// Asio names shared by the transport files (Beast's chat-multi keeps them in one `net.hpp` too).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sluice::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
/// Completion token of our coroutines: errors come back as values (`auto [ec, n] = co_await ...`).
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

}  // namespace sluice::net
