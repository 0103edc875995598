// The transport on Beast, one class per private header as in Beast's chat-multi example:
// listener (accepts), http_session (HTTP requests; hands a connection over to a device stream),
// device_stream (the send queue) with ws_session and sse_session, and server_state.hpp (what they
// share). api.cpp holds the routes and is free of Beast.
//
// Beast is compiled in two translation units: this one (HTTP: the server, listener, http_session,
// sse_session and device_stream, whose definitions are the *.ipp files included below) and
// ws_session.cpp (WebSocket). Measured with g++ 12 -O2 on the 2-core VM, one compile at a time
// (/usr/bin/time -v on the commands of compile_commands.json, no ccache; CPU seconds, peak RSS):
//   before the split, server.cpp alone            53 s   1.2 GB
//   one TU per class (6 TUs)                      121 s in all (ws 36, http 31, sse 17, listener 15,
//                                                 server 12, device_stream 10), 0.8 GB at most
//   one TU including every header                53 s   1.2 GB
//   two TUs (this one + ws_session.cpp)           32 s + 33 s = 65 s, 0.8 GB each
// Each TU pays ~10 s of Asio/Beast parsing before its own templates, so one TU per class doubles the
// CPU a full build spends here; two TUs cost 12 s more than one but halve the wait after an edit
// (~33 s with -j2 instead of ~55 s) and keep each compiler process near 0.8 GB.
#include "device_stream.hpp"
#include "listener.hpp"
#include "server_state.hpp"

// Definitions of the HTTP side (see above).
#include "device_stream.ipp"
#include "http_session.ipp"
#include "listener.ipp"
#include "sse_session.ipp"

#include <boost/asio/co_spawn.hpp>
#include <algorithm>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

namespace sluice::net {

server::impl::impl(asio::io_context& io_context, context& c)
    : io(io_context),
      ctx(c),
      routes(c, [this](std::chrono::milliseconds delay, std::function<void()> fn) { schedule(delay, std::move(fn)); }),
      cors(c.config.http.cors_origins),
      transport(c.metrics.transport("websocket")),
      expiry(io_context) {}

void server::impl::schedule(std::chrono::milliseconds delay, std::function<void()> fn) {
    // Called from the API's pool: the timer is made on the event loop.
    asio::post(io, [&io = io, delay, fn = std::move(fn)]() mutable {
        auto timer = std::make_shared<asio::steady_timer>(io, delay);
        timer->async_wait([timer, fn = std::move(fn)](error_code) { fn(); });
    });
}

void server::impl::expire_devices() {
    expiry.expires_after(std::chrono::seconds(1));
    expiry.async_wait([self = shared_from_this()](error_code ec) {
        if (ec || self->stopping) return;
        auto gone = self->ctx.hub.expire();
        if (!gone.empty()) {
            self->routes.offload([&registry = self->ctx.registry, gone = std::move(gone)] {
                for (const auto& device : gone) {
                    spdlog::info("device {}: gone for longer than the grace period, subscriptions removed", device);
                    try {
                        registry.forget_device(device);
                    } catch (const std::exception& e) {
                        spdlog::error("device {}: subscriptions not removed: {}", device, e.what());
                    }
                }
            });
        }
        self->expire_devices();
    });
}

device_loops::device_loops(std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
        contexts_.push_back(std::make_unique<asio::io_context>(1));
        guards_.push_back(asio::make_work_guard(*contexts_.back()));
        threads_.emplace_back([io = contexts_.back().get()] { io->run(); });
    }
}

device_loops::~device_loops() {
    guards_.clear();
    for (auto& io : contexts_) io->stop();
    for (auto& t : threads_) t.join();
}

asio::io_context& device_loops::next() { return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()]; }

server::server(asio::io_context& io, context& ctx)
    : loops_(std::make_unique<device_loops>(std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 8))),
      impl_(std::make_shared<impl>(io, ctx)) {
    impl_->loops = loops_.get();
}

server::~server() = default;

std::uint16_t server::start(const std::string& host, std::uint16_t port) {
    auto accepting = std::make_shared<listener>(impl_, tcp::endpoint{asio::ip::make_address(host), port});
    impl_->accepting = accepting;
    accepting->run();
    // One process: devices known from their subscriptions get their grace period back after a
    // restart. (Shared streams keep no device state in the process.)
    if (!impl_->ctx.hub.shared()) {
        for (const auto& device : impl_->ctx.registry.devices()) impl_->ctx.hub.restore(device);
    }
    impl_->expire_devices();
    return accepting->local_endpoint().port();
}

void server::impl::check_drained() {
    if (!stopping || !sessions.empty() || requests_in_flight != 0 || !on_drained) return;
    auto drained = std::move(on_drained);
    on_drained = nullptr;
    drained();
}

void server::stop(std::function<void()> drained) {
    asio::post(impl_->io, [self = impl_, drained = std::move(drained)]() mutable {
        self->stopping = true;
        self->on_drained = std::move(drained);
        if (auto accepting = self->accepting.lock()) accepting->stop();
        self->expiry.cancel();
        for (const auto& s : self->sessions) s->close(close_code::going_away, "server shutting down");
        self->check_drained();
    });
    // Store and registry work already handed to the pool finishes (its answers are posted to the
    // event loop); what comes later runs on the loop.
    impl_->routes.stop();
}

}  // namespace sluice::net
