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

void waiters::begin_write(const std::string& op, const std::string& key) {
    std::lock_guard lock(mutex_);
    if (writes_.emplace(op, key).second) ++per_key_[key];
}

bool waiters::has_pending_writes(const std::string& key) {
    std::lock_guard lock(mutex_);
    return per_key_.count(key) != 0;
}

void waiters::settle(const std::string& op, bool applied, const boost::json::object* after, std::exception_ptr failure) {
    callback done;
    {
        std::lock_guard lock(mutex_);
        auto w = writes_.find(op);
        if (w == writes_.end()) return;  // settled already (or accepted before a restart)
        auto k = per_key_.find(w->second);
        if (k != per_key_.end() && --k->second == 0) per_key_.erase(k);
        writes_.erase(w);
        auto it = pending_.find(op);
        if (it == pending_.end()) return;
        done = std::move(it->second);
        pending_.erase(it);
    }
    done(applied, after, failure);
}

}  // namespace sluice::pipeline
