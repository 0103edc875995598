#include <sluice/pipeline/waiters.hpp>

namespace sluice::pipeline {

void waiters::expect(const std::string& op, callback done) {
    std::lock_guard lock(mutex_);
    pending_[op] = std::move(done);
}

void waiters::cancel(const std::string& op) {
    std::lock_guard lock(mutex_);
    pending_.erase(op);
}

void waiters::complete(const std::string& op, const boost::json::object* after, std::exception_ptr failure) {
    callback done;
    {
        std::lock_guard lock(mutex_);
        auto it = pending_.find(op);
        if (it == pending_.end()) return;
        done = std::move(it->second);
        pending_.erase(it);
    }
    done(after, failure);
}

}  // namespace sluice::pipeline
