#pragma once
/// What is wrong right now, by component (`queue`, `store`, `stage writer`, ...), for `/healthz`:
/// a component reports a problem while it lasts and clears it when it is over. Thread-safe.
#include <map>
#include <mutex>
#include <string>

namespace sluice {

class health {
public:
    void report(const std::string& component, const std::string& problem) {
        std::lock_guard lock(mutex_);
        problems_[component] = problem;
    }
    void clear(const std::string& component) {
        std::lock_guard lock(mutex_);
        problems_.erase(component);
    }
    std::map<std::string, std::string> problems() const {
        std::lock_guard lock(mutex_);
        return problems_;
    }

private:
    mutable std::mutex mutex_;
    std::map<std::string, std::string> problems_;
};

}  // namespace sluice
