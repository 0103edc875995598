#pragma once
/// Lets an API request with `?wait=1` learn when the writer has applied its change (or failed to).
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
    void complete(const std::string& op, const boost::json::object* after, std::exception_ptr failure);

private:
    std::mutex mutex_;
    std::unordered_map<std::string, callback> pending_;
};

}  // namespace sluice::pipeline
