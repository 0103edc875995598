#pragma once
/// A stage of the graph (DESIGN.md §8): code that takes messages from one queue and says what
/// became of each. Stages never name queues or settle messages: the runner publishes what they
/// forward (to the stage's configured `next`, or to the stages a reply names), acks, retries
/// with backoff, dead-letters, and enforces `limits.max_hops`.
#include <sluice/queue/queue.hpp>

#include <boost/json/value.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sluice::pipeline {

/// What a stage decided for one message.
struct outcome {
    enum class action {
        forward,      ///< publish `messages` (none: nothing, like done) and ack
        done,         ///< consumed: ack, publish nothing
        retry,        ///< a failure of this message: try again after `retry_after` (or the stage's backoff)
        dead_letter,  ///< give up at once, with `reason`
    };
    struct emitted {
        std::string body;
        std::vector<std::string> to;  ///< stages; empty: the stage's configured `next`
        std::string key;              ///< ordering key; empty: the input's
        /// Set: to one instance of each target stage (its own queue, `instance_queue`), e.g. the
        /// websockets-transport instance that holds a device's socket.
        std::string instance;
    };
    action what = action::forward;
    std::vector<emitted> messages;
    std::chrono::milliseconds retry_after{0};
    std::string reason;
    /// Runs once the message is settled durably (what it forwards published, the ack written),
    /// on the queue's thread; not when it is retried or the settlement fails.
    std::function<void()> on_settled;

    static outcome forward(std::string body, std::vector<std::string> to = {}) {
        outcome o;
        o.messages.push_back({std::move(body), std::move(to), {}, {}});
        return o;
    }
    static outcome done() { return {action::done, {}, {}, {}, {}}; }
    static outcome retry(std::string why, std::chrono::milliseconds after = {}) { return {action::retry, {}, after, std::move(why), {}}; }
    static outcome dead(std::string why) { return {action::dead_letter, {}, {}, std::move(why), {}}; }
};

/// The queue of one running instance of `stage` (processes of the distributed shape that each own
/// a queue, as the websockets-transport does): `stage@instance`. Stage names cannot hold '@'.
inline std::string instance_queue(const std::string& stage, const std::string& instance) { return stage + "@" + instance; }

/// One instance of a stage, used from one thread.
///
/// `handle` returns one outcome per message, in order. A failure that belongs to a message is an
/// outcome (`retry`, `dead_letter`). A thrown `sluice::error` of category `rejected` fails each
/// message of the batch once. Any other exception means one of Sluice's own backends is down
/// (`sluice::unavailable` names it): the runner pauses with capped backoff and hands the same
/// batch again, for as long as it takes, and nothing is dead-lettered because of it.
class stage {
public:
    virtual ~stage() = default;
    virtual std::vector<outcome> handle(const std::vector<queue::message>& batch) = 0;
    /// Most messages per `handle` (built-ins batch; a child process takes one at a time).
    virtual std::size_t batch_size() const { return 1; }
    /// Called by the runner once its instance stops (e.g. to end a child process).
    virtual void stop() {}
};

/// Makes instance `n` (0-based) of a stage.
using stage_factory = std::function<std::unique_ptr<stage>(std::size_t instance)>;

/// A reply of a custom stage (exec, webhook, cpp), DESIGN.md §8: `{action, message?, next?,
/// retry_after_ms?, reason?}`. `action` defaults to "next".
struct reply {
    enum class action { next, done, retry, dead_letter };
    action what = action::next;
    std::optional<boost::json::value> message;  ///< forwarded instead of the input
    std::vector<std::string> next;              ///< overrides the configured next stages
    std::chrono::milliseconds retry_after{0};
    std::string reason;

    /// Parses a reply object; throws `invalid_input` naming the bad field.
    static reply from_json(const boost::json::value& v);
    /// The outcome for the message `input` (its body when the reply has no `message`).
    outcome to_outcome(const std::string& input) const;
};

/// What a `cpp` stage function gets: the stage's name, the attempt (1 first) and the message.
struct stage_request {
    std::string stage;
    std::uint32_t attempt = 1;
    boost::json::value message;
    const queue::message* raw = nullptr;  ///< key, headers, redelivered
};
using stage_function = std::function<reply(const stage_request&)>;

/// Registers a `kind = "cpp"` stage function under `name` (`function` in its config, default the
/// stage's name). Call before running the CLI (`sluice::cli::run`). Thread-safe; a function runs on
/// `instances` threads at once.
void register_stage(const std::string& name, stage_function fn);
/// The function registered under `name`, or null.
const stage_function* registered_stage(const std::string& name);

}  // namespace sluice::pipeline
