#pragma once
// A stream layer under a WebSocket that turns a burst of small writes into few syscalls: TCP_CORK
// done in the process. The WebSocket stream writes one frame per message, a `send` each. While
// held (`hold(true)`: the session has a burst of frames queued) this layer takes what is written
// into a buffer and completes the write at once (posted); on `hold(false)`, or when half of `limit`
// is buffered, the buffer goes to the socket in one write. Not held, a write goes to the socket at
// once, as without this layer. Every byte the WebSocket stream writes, its own control frames
// included, passes here, in order. At most `limit` bytes are buffered: past it a write waits for
// the socket, so a slow reader pushes back on the session's queue (which closes it as too slow)
// instead of growing this buffer. A writer that frames its messages itself may append them
// directly (`try_append`), with no asynchronous operation at all. Event loop only.
#include "net.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sluice::net {

template <class NextLayer>
class coalescing_stream {
public:
    using next_layer_type = NextLayer;
    using executor_type = typename NextLayer::executor_type;
    static constexpr std::size_t limit = 64 * 1024;

    template <class... Args>
    explicit coalescing_stream(Args&&... args) : next_(std::forward<Args>(args)...) {}

    executor_type get_executor() noexcept { return next_.get_executor(); }
    next_layer_type& next_layer() noexcept { return next_; }
    const next_layer_type& next_layer() const noexcept { return next_; }

    /// The object to keep alive while bytes are on their way to the socket (the session that holds
    /// this stream): the socket's completion handlers refer to this layer.
    void set_owner(std::weak_ptr<void> owner) { owner_ = std::move(owner); }

    template <class MutableBufferSequence, class ReadToken>
    auto async_read_some(const MutableBufferSequence& buffers, ReadToken&& token) {
        return next_.async_read_some(buffers, std::forward<ReadToken>(token));
    }

    template <class ConstBufferSequence, class WriteToken>
    auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token) {
        return asio::async_initiate<WriteToken, void(error_code, std::size_t)>(
            [this](auto handler, const ConstBufferSequence& b) { take(std::move(handler), b); },
            token, buffers);
    }

    /// Held, writes gather in the buffer; released, what was gathered is written.
    void hold(bool on) {
        held_ = on;
        if (!on) flush();
    }

    /// Appends one whole message that its writer framed itself, when it fits (an empty buffer takes
    /// any size); false when it does not, or when a write waits for room (the writer then uses
    /// `async_write_some`, which waits). Never inside another message: every write is taken whole.
    template <class ConstBufferSequence>
    bool try_append(const ConstBufferSequence& buffers) {
        const std::size_t size = asio::buffer_size(buffers);
        if (failed_ || parked_ || (!pending_.empty() && pending_.size() + size > limit)) return false;
        for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it)
            pending_.append(static_cast<const char*>((*it).data()), (*it).size());
        if (!held_ || pending_.size() >= limit / 2) flush();
        return true;
    }

    /// Completes once what was written reached the socket (or writing failed).
    template <class Token>
    auto async_drain(Token&& token) {
        return asio::async_initiate<Token, void(error_code)>(
            [this](auto handler) {
                if (!flushing_ && pending_.empty()) {
                    asio::post(get_executor(), asio::append(std::move(handler), failed_));
                    return;
                }
                drained_.emplace_back(std::move(handler));
            },
            token);
    }

private:
    using write_handler = asio::any_completion_handler<void(error_code, std::size_t)>;

    /// Appends what fits and completes the write with that many bytes; waits when nothing fits.
    template <class Handler, class Buffers>
    void take(Handler handler, const Buffers& buffers) {
        if (failed_) return asio::post(get_executor(), asio::append(std::move(handler), failed_, std::size_t{0}));
        // Whole or not at all: bytes appended by `try_append` never land inside this write.
        const std::size_t size = asio::buffer_size(buffers);
        if (!pending_.empty() && pending_.size() + size > limit) {
            parked_.emplace(write_handler(std::move(handler)),
                            std::vector<asio::const_buffer>(asio::buffer_sequence_begin(buffers), asio::buffer_sequence_end(buffers)));
            return;
        }
        for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it)
            pending_.append(static_cast<const char*>((*it).data()), (*it).size());
        asio::post(get_executor(), asio::append(std::move(handler), error_code{}, size));
        if (!held_ || pending_.size() >= limit / 2) flush();
    }

    void flush() {
        if (flushing_) return;
        if (pending_.empty()) return finish_drain();
        flushing_ = true;
        flying_.swap(pending_);
        asio::async_write(next_, asio::buffer(flying_), [this, keep = owner_.lock()](error_code ec, std::size_t) {
            flushing_ = false;
            // A burst's buffer is not kept by an idle connection (memory per socket stays small).
            if (flying_.capacity() > 4096) {
                std::string().swap(flying_);
            } else {
                flying_.clear();
            }
            if (ec) {
                failed_ = ec;
                pending_.clear();
            }
            if (parked_) {
                auto [handler, buffers] = std::move(*parked_);
                parked_.reset();
                take(std::move(handler), buffers);
            }
            if (!pending_.empty() && !failed_ && (!held_ || pending_.size() >= limit / 2)) return flush();
            if (pending_.empty() || failed_) finish_drain();
        });
    }

    void finish_drain() {
        auto waiting = std::move(drained_);
        drained_.clear();
        for (auto& h : waiting) asio::post(get_executor(), asio::append(std::move(h), failed_));
    }

    NextLayer next_;
    std::weak_ptr<void> owner_;
    std::string pending_;  ///< taken, not yet handed to the socket
    std::string flying_;   ///< being written
    bool flushing_ = false;
    bool held_ = false;
    error_code failed_;
    std::optional<std::pair<write_handler, std::vector<asio::const_buffer>>> parked_;
    std::vector<asio::any_completion_handler<void(error_code)>> drained_;
};

// The WebSocket stream ends a connection through these (found by argument-dependent lookup):
// what is buffered goes out first, then the layer below is torn down.
template <class NextLayer>
void teardown(boost::beast::role_type role, coalescing_stream<NextLayer>& stream, error_code& ec) {
    using boost::beast::websocket::teardown;
    teardown(role, stream.next_layer(), ec);
}

template <class NextLayer, class TeardownHandler>
void async_teardown(boost::beast::role_type role, coalescing_stream<NextLayer>& stream, TeardownHandler&& handler) {
    stream.async_drain([role, &stream, handler = std::forward<TeardownHandler>(handler)](error_code) mutable {
        using boost::beast::websocket::async_teardown;
        async_teardown(role, stream.next_layer(), std::move(handler));
    });
}

}  // namespace sluice::net
