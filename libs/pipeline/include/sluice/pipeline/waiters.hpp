#pragma once
/// What the API knows of writes the writer has not applied yet: `?wait=1` requests waiting for
/// their change, and per document which accepted changes are still on their way to the writer
/// (the API checks a patch against the stored document only when none are, so that pipelined
/// writes are not refused). Every operation is keyed by the change's `op` and idempotent: the
/// first of `complete`, `abandon` or a failed publish settles a change, later calls do nothing.
#include <sluice/store/store.hpp>

#include <boost/json/object.hpp>

#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sluice::pipeline {

class waiters {
public:
    /// `done(applied, document or null, failure)` runs once, on the settling thread, or never if
    /// `cancel`led. Not applied and no failure: a stage before the writer consumed the change.
    using callback = std::function<void(bool applied, const boost::json::object* after, std::exception_ptr failure)>;
    void expect(const std::string& op, callback done);
    void cancel(const std::string& op);

    /// Change `op` to document `key` was accepted (call before publishing it).
    void begin_write(const std::string& op, const std::string& key);
    /// The writer applied (or gave up on) change `op`.
    void complete(const std::string& op, const boost::json::object* after, std::exception_ptr failure) {
        settle(op, !failure, after, failure);
    }
    /// Change `op` will never reach the writer (a stage before it dropped or dead-lettered it, or
    /// its publish failed); `failure` says why, or is null for a deliberate drop.
    void abandon(const std::string& op, std::exception_ptr failure) { settle(op, false, nullptr, failure); }
    bool has_pending_writes(const std::string& key);

    static std::string document_key(const std::string& app, const std::string& model, const std::string& id) {
        return store::ordering_key(app, model, id);
    }

private:
    void settle(const std::string& op, bool applied, const boost::json::object* after, std::exception_ptr failure);

    std::mutex mutex_;
    std::unordered_map<std::string, callback> pending_;      // op -> ?wait=1 answer
    std::unordered_map<std::string, std::string> writes_;    // op -> document key
    std::unordered_map<std::string, std::size_t> per_key_;  // document key -> changes on their way
};

}  // namespace sluice::pipeline
