#pragma once
// Numbering and routing of frames with shared device streams (device_log.hpp, steps 1 and 2):
// what the transport manager does for its batch when it sends straight to the websocket stage,
// and what the websocket stage's shared queue does when custom stages sit between them (their
// edits must be in the numbered backlog a resumed device reads).
#include <sluice/pipeline/device_hub.hpp>
#include <sluice/pipeline/stage.hpp>

#include <boost/json/value.hpp>

#include <string>
#include <vector>

namespace sluice::pipeline {

class numbered_routing {
public:
    /// Sends to the instance queues of `websocket_stage`.
    numbered_routing(const shared_streams& streams, std::string websocket_stage)
        : streams_(streams), websocket_stage_(std::move(websocket_stage)) {}

    /// The frames of the batch's message `index` (its op `op`); all of a message's at once.
    void add(std::size_t index, const boost::json::value& op, std::vector<device_log::frame> frames);

    /// Numbers every added frame (one log call), locates their devices (one directory call), and
    /// appends to `outcomes[index]` one message `{op, deliveries: [{head, targets: [[device,
    /// seq]]}]}` per instance holding some of that message's devices. Then forgets the frames.
    /// A log or directory outage throws `unavailable`: the batch comes again, and the log gives it
    /// the same numbers.
    void route(std::vector<outcome>& outcomes);

    bool empty() const { return frames_.empty(); }

private:
    const shared_streams& streams_;
    std::string websocket_stage_;
    std::vector<device_log::frame> frames_;
    std::vector<std::size_t> message_;    // per frame, the index of its message in the batch
    std::vector<boost::json::value> op_;  // per message, its op
};

}  // namespace sluice::pipeline
