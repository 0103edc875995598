#include "device_stream.hpp"
#include "offload.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

namespace sluice::net {

device_stream::device_stream(std::shared_ptr<server::impl> server, asio::any_io_executor executor)
    : server_(std::move(server)), executor_(std::move(executor)) {}

void device_stream::send(pipeline::frame_head head, std::uint64_t seq) {
    asio::post(executor_, [self = shared_from_this(), head = std::move(head), seq]() mutable {
        self->accept(std::move(head), seq);
        self->start_writing();
    });
}

void device_stream::send_all(std::vector<std::pair<pipeline::frame_head, std::uint64_t>> frames) {
    asio::post(executor_, [self = shared_from_this(), frames = std::move(frames)]() mutable {
        // Queued together, written together (one burst: corked).
        for (auto& [head, seq] : frames) self->accept(std::move(head), seq);
        self->start_writing();
    });
}

void device_stream::accept(pipeline::frame_head head, std::uint64_t seq) {
    if (holding_) {
        // Numbers are checked on release: what the session queues meanwhile (a resume) may cover
        // these.
        auto it = delivery(std::move(head), seq);
        if (!closing_ && admit(it)) held_.push_back({std::move(it), seq});
        return;
    }
    if (seq <= last_seq_) return;  // already sent while resuming
    last_seq_ = seq;
    queue(delivery(std::move(head), seq));
}

void device_stream::close(std::uint16_t code, const std::string& reason) {
    asio::post(executor_, [self = shared_from_this(), code, reason] { self->close_now(code, reason); });
}

void device_stream::close_now(std::uint16_t code, const std::string& reason) {
    if (closing_) return;
    closing_ = true;
    queue_.clear();
    held_.clear();
    queued_bytes_ = 0;
    if (corked_) {  // what was written, and the close that follows, must not wait for the cork
        corked_ = false;
        cork(false);
    }
    on_close(code, reason);
}

// With TCP_NODELAY on every accepted socket, clearing the cork pushes what it held at once (the
// kernel sends pending data when TCP_CORK goes off and Nagle is off); without NODELAY a partial
// packet could still wait for the peer's ACK.
void device_stream::cork(bool on) {
    int value = on ? 1 : 0;
    ::setsockopt(socket().native_handle(), IPPROTO_TCP, TCP_CORK, &value, sizeof value);
}

bool device_stream::admit(const item& it) {
    queued_bytes_ += it.size();
    if (queued_bytes_ <= server_->ctx.config.limits.send_queue_bytes) return true;
    server_->transport.dropped.Increment(static_cast<double>(queue_.size() + held_.size() + 1));
    spdlog::warn("device {}: send queue over {} bytes, closing as too slow", device_, server_->ctx.config.limits.send_queue_bytes);
    close_now(close_code::too_slow, "too slow");
    return false;
}

void device_stream::queue(item it) {
    if (closing_ || !admit(it)) return;
    queue_.push_back(std::move(it));
}

void device_stream::start_writing() {
    if (!writing_ && !closing_) write_next();
}

void device_stream::enqueue(item it) {
    queue(std::move(it));
    start_writing();
}

void device_stream::hold_deliveries() { holding_ = true; }

void device_stream::release_deliveries() {
    holding_ = false;
    if (held_.empty()) return;
    for (auto& [it, seq] : held_) {
        if (seq <= last_seq_) {
            queued_bytes_ -= it.size();  // sent while resuming
            continue;
        }
        last_seq_ = seq;
        queue_.push_back(std::move(it));
    }
    held_.clear();
    start_writing();
}

void device_stream::write_next() {
    // A burst of frames goes out in as few packets as possible: cork until the queue is drained
    // (with TCP_CORK each frame still costs a syscall, but not a packet and a wake-up; a WebSocket
    // gathers the burst in its stream, into few syscalls).
    if (!corked_ && queue_.size() > 1 && !closing_) {
        cork(true);
        corked_ = true;
    }
    std::size_t taken = 0;
    while (!queue_.empty() && !closing_ && take_now(queue_.front())) {
        queued_bytes_ -= queue_.front().size();
        queue_.pop_front();
        ++taken;
    }
    if (taken != 0) server_->transport.sent.Increment(static_cast<double>(taken));
    if (queue_.empty() || closing_) {
        writing_ = false;
        if (corked_) {  // send what the burst left in the socket
            corked_ = false;
            cork(false);
        }
        return;
    }
    writing_ = true;
    write(queue_.front(), [self = shared_from_this()](error_code ec) {
        if (self->queue_.empty()) return;  // cleared by close_now
        self->queued_bytes_ -= self->queue_.front().size();
        self->queue_.pop_front();
        if (ec) {
            self->server_->transport.dropped.Increment(static_cast<double>(self->queue_.size() + 1));
            self->queue_.clear();
            self->writing_ = false;
            return;
        }
        self->server_->transport.sent.Increment();
        self->write_next();
    });
}

asio::awaitable<pipeline::device_hub::attach_result> device_stream::join(const auth::claims& who,
                                                                         std::optional<std::uint64_t> resume_from) {
    device_ = who.device;
    hold_deliveries();
    std::function<pipeline::device_hub::attach_result()> work = [self = shared_from_this(), &hub = server_->ctx.hub,
                                                                 device = device_, resume_from] {
        return hub.attach(device, self, resume_from);
    };
    auto joining = off_loop(server_->routes, std::move(work));
    auto attached = co_await std::move(joining);
    attached_ = true;
    last_seq_ = attached.seq;
    co_return attached;
}

// The server's list of streams lives on its event loop; a WebSocket runs on a loop of its own.
void device_stream::opened() {
    server_->transport.connections.Increment();
    asio::post(server_->io, [self = shared_from_this()] {
        self->server_->sessions.insert(self);
        if (self->server_->stopping) self->close(close_code::going_away, "server shutting down");
    });
}

void device_stream::finished() {
    closing_ = true;
    if (attached_) server_->ctx.hub.detach(device_, this);
    attached_ = false;
    server_->transport.connections.Decrement();
    asio::post(server_->io, [self = shared_from_this()] {
        self->server_->sessions.erase(self);
        self->server_->check_drained();
    });
}

}  // namespace sluice::net
