#pragma once
/// A child process speaking JSON Lines on its stdin and stdout (DESIGN.md §8, §9): Sluice writes
/// one request object per line, carrying an `id`; the child answers one object per line carrying
/// the same `id`. Its stderr goes to Sluice's log, line by line.
#include <boost/json/object.hpp>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice::callout {

/// User code that could not answer: it failed, timed out, crashed, or answered something that is
/// not a reply. The message says which.
class failure : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// One child, one request at a time (not thread-safe: callers serialize, see `caller`).
class child_process {
public:
    /// `name` identifies it in the log ("stage enrich", "hook demo/task"); nothing starts yet.
    child_process(std::string name, std::vector<std::string> command);
    ~child_process();
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    /// Writes `request` as one line, with a fresh `id` unless it has a string `id` of its own, and
    /// returns the reply line with that `id` (removed from the reply).
    /// Starts the child when none runs. Throws `failure` when no reply comes within `timeout`, the
    /// child exits, or it writes a line that is not a JSON object with that `id`; the child is
    /// then ended, and the next call starts a new one.
    boost::json::object call(boost::json::object request, std::chrono::milliseconds timeout);

    /// Closes its stdin, waits up to `grace` for it to exit, then kills it. The next call starts
    /// a new child.
    void stop(std::chrono::milliseconds grace);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace sluice::callout
