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

void waiters::begin_write(const std::string& key) {
    std::lock_guard lock(mutex_);
    ++writes_[key];
}

void waiters::abandon_write(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto it = writes_.find(key);
    if (it != writes_.end() && --it->second == 0) writes_.erase(it);
}

bool waiters::has_pending_writes(const std::string& key) {
    std::lock_guard lock(mutex_);
    return writes_.count(key) != 0;
}

void waiters::complete(const std::string& op, const std::string& key, const boost::json::object* after,
                       std::exception_ptr failure) {
    callback done;
    {
        std::lock_guard lock(mutex_);
        auto w = writes_.find(key);
        if (w != writes_.end() && --w->second == 0) writes_.erase(w);
        auto it = pending_.find(op);
        if (it == pending_.end()) return;
        done = std::move(it->second);
        pending_.erase(it);
    }
    done(after, failure);
}

}  // namespace sluice::pipeline
