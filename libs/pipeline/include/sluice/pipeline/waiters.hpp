#pragma once
/// What the API knows of writes the writer has not applied yet: `?wait=1` requests waiting for
/// their change, and per document how many accepted changes are still queued (the API checks a
/// patch against the stored document only when none are, so that pipelined writes are not refused).
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
    /// `done(document or null, failure)` runs once, on the writer's thread, or never if `cancel`led.
    using callback = std::function<void(const boost::json::object* after, std::exception_ptr failure)>;
    void expect(const std::string& op, callback done);
    void cancel(const std::string& op);
    /// The writer applied (or gave up on) change `op` to document `key`.
    void complete(const std::string& op, const std::string& key, const boost::json::object* after, std::exception_ptr failure);

    /// A change to document `key` was accepted (call before publishing it).
    void begin_write(const std::string& key);
    /// The accepted change was not stored after all (publish failed).
    void abandon_write(const std::string& key);
    bool has_pending_writes(const std::string& key);

    static std::string document_key(const std::string& app, const std::string& model, const std::string& id) {
        return store::ordering_key(app, model, id);
    }

private:
    std::mutex mutex_;
    std::unordered_map<std::string, callback> pending_;
    std::unordered_map<std::string, std::size_t> writes_;
};

}  // namespace sluice::pipeline
