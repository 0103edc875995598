#pragma once
// What every session shares (Beast chat-multi's `shared_state`): the context, the API and the open
// device streams. Kept alive by the server and by each session, so it outlives the last of them.
#include "api.hpp"
#include "cors.hpp"
#include "net.hpp"

#include <sluice/net/server.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <boost/asio/executor_work_guard.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>
#include <functional>
#include <memory>
#include <set>

namespace sluice::net {

class device_stream;
class listener;

/// The event loops of WebSocket sessions, each on a thread of its own: fan-out to many sockets is
/// the busiest work of the process, and this way it neither shares a core with the HTTP API nor
/// delays its answers. Sessions are dealt to the loops in turn.
class device_loops {
public:
    explicit device_loops(std::size_t count);
    ~device_loops();  ///< stops the loops and joins their threads
    asio::io_context& next();

private:
    std::vector<std::unique_ptr<asio::io_context>> contexts_;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
    std::vector<std::thread> threads_;
    std::atomic<std::size_t> next_{0};
};

struct server::impl : std::enable_shared_from_this<server::impl> {
    impl(asio::io_context& io_context, context& c);

    asio::io_context& io;
    device_loops* loops = nullptr;  ///< owned by the server
    context& ctx;
    api routes;
    cors_policy cors;  ///< `[http] cors_origins`
    metrics::transport_metrics& transport;
    std::set<std::shared_ptr<device_stream>> sessions;  ///< open WebSocket and SSE streams; event loop only (sessions post to it)
    std::weak_ptr<listener> accepting;                  ///< owned by its accept loop
    asio::steady_timer expiry;
    bool stopping = false;               ///< event loop only
    std::size_t requests_in_flight = 0;  ///< HTTP requests read and not yet answered; event loop only
    std::function<void()> on_drained;    ///< set by `server::stop`; event loop only

    /// Once stopping with no device stream open and no request in flight: runs `on_drained` once.
    void check_drained();

    /// Runs `fn` on the event loop after `delay`.
    void schedule(std::chrono::milliseconds delay, std::function<void()> fn);
    /// Once a second: forgets devices gone for longer than the grace period.
    void expire_devices();
};

}  // namespace sluice::net
