#pragma once
// What WebSocket and SSE sessions share: the link to the device hub, and a send queue with one
// write in flight whose bytes are bounded by `limits.send_queue_bytes` (past it the stream is
// closed as too slow, 4008 on a WebSocket). Frames from the hub arrive on any thread and are
// posted to the stream's executor. Subclasses frame and write the bytes.
#include "net.hpp"
#include "server_state.hpp"

#include <sluice/auth/tokens.hpp>
#include <sluice/pipeline/device_hub.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace sluice::net {

namespace close_code {
constexpr std::uint16_t going_away = 1001;
constexpr std::uint16_t logged_out = 4001;
constexpr std::uint16_t token_expired = 4002;
constexpr std::uint16_t too_slow = 4008;
}  // namespace close_code

class device_stream : public pipeline::connection, public std::enable_shared_from_this<device_stream> {
public:
    device_stream(std::shared_ptr<server::impl> server, asio::any_io_executor executor);

    void send(pipeline::frame_head head, std::uint64_t seq) override;
    void send_all(std::vector<std::pair<pipeline::frame_head, std::uint64_t>> frames) override;
    void close(std::uint16_t code, const std::string& reason) override;
    /// On the stream's executor: drops what is queued and closes.
    void close_now(std::uint16_t code, const std::string& reason);

protected:
    /// A frame as bytes: `before` + `*shared` + `after` (the shared part is the serialized frame).
    struct item {
        std::string before;
        std::shared_ptr<const std::string> shared;
        std::string after;
        std::size_t size() const { return before.size() + shared->size() + after.size(); }
    };

    virtual item delivery(pipeline::frame_head head, std::uint64_t seq) = 0;
    virtual void write(const item& it, std::function<void(error_code)> done) = 0;
    /// Takes the frame at once when the stream can (no syscall, no asynchronous operation); false:
    /// it goes through `write`.
    virtual bool take_now(const item&) { return false; }
    virtual void on_close(std::uint16_t code, const std::string& reason) = 0;
    virtual tcp::socket& socket() = 0;
    /// While a burst of frames is written: gather them into as few packets as possible (TCP_CORK;
    /// a WebSocket gathers them in its stream, into few syscalls too).
    virtual void cork(bool on);

    /// Queues a frame; starts writing unless a write is in flight.
    void enqueue(item it);
    /// Until `release_deliveries`, frames from the hub wait behind what the session sends (their
    /// bytes still count against the bound): the answer to an event handled off the event loop
    /// (subscribe) goes out before the deliveries it made possible, as when it was answered at once.
    void hold_deliveries();
    void release_deliveries();
    /// Joins the device's stream, off the event loop (shared streams read the log): what it missed
    /// since `resume_from`, or a resync notice. Deliveries wait meanwhile; once the caller has
    /// queued what `join` returned it calls `release_deliveries`, which skips what that covered.
    asio::awaitable<pipeline::device_hub::attach_result> join(const auth::claims& who, std::optional<std::uint64_t> resume_from);
    /// The stream is open (counted, and closed by `server::stop`).
    void opened();
    /// The stream is closed: leaves the hub and the server.
    void finished();

    std::shared_ptr<server::impl> server_;
    asio::any_io_executor executor_;
    std::string device_;
    bool attached_ = false;
    bool closing_ = false;
    std::uint64_t last_seq_ = 0;

private:
    /// On the stream's executor: queues a frame from the hub (or holds it, see `hold_deliveries`),
    /// without starting to write.
    void accept(pipeline::frame_head head, std::uint64_t seq);
    /// Counts `it` against the bound and queues it (or closes the stream as too slow).
    void queue(item it);
    /// Starts writing what is queued unless a write is in flight.
    void start_writing();
    /// Counts `it` against the bound; false (and the stream closed as too slow) past it.
    bool admit(const item& it);
    void write_next();

    bool writing_ = false;
    bool corked_ = false;
    bool holding_ = false;
    std::deque<item> queue_;
    std::deque<std::pair<item, std::uint64_t>> held_;  ///< deliveries waiting for `release_deliveries`, with their numbers
    std::size_t queued_bytes_ = 0;  ///< of queue_ and held_
};

}  // namespace sluice::net
