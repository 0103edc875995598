#include <sluice/callout/caller.hpp>
#include <sluice/callout/http_client.hpp>
#include <sluice/core/json_io.hpp>

#include <boost/json/serialize.hpp>

#include <condition_variable>
#include <map>
#include <mutex>
#include <shared_mutex>

namespace sluice::callout {

namespace bj = boost::json;

namespace {

using clock = std::chrono::steady_clock;

/// Up to `size` resources of type T, made on first use, each lent to one caller at a time.
template <class T>
class pool {
public:
    explicit pool(std::size_t size) : size_(size) {}

    /// Runs `use` on a free resource (made by `make` if fewer than `size` exist), waiting until
    /// `deadline` for one; `what` names the callee in the timeout.
    template <class Make, class Use>
    auto with(clock::time_point deadline, const std::string& what, Make make, Use use) {
        T* lent = nullptr;
        {
            std::unique_lock lock(mutex_);
            while (idle_.empty() && all_.size() >= size_) {
                if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() && all_.size() >= size_)
                    throw failure(what + ": every instance stayed busy until the timeout");
            }
            if (!idle_.empty()) {
                lent = idle_.back();
                idle_.pop_back();
            } else {
                lent = all_.emplace_back(make()).get();
            }
        }
        struct give_back {
            pool& p;
            T* t;
            ~give_back() {
                {
                    std::lock_guard lock(p.mutex_);
                    p.idle_.push_back(t);
                }
                p.freed_.notify_one();
            }
        } returned{*this, lent};
        return use(*lent);
    }

    /// Applies `f` to every resource; none may be lent.
    template <class F>
    void each(F f) {
        std::lock_guard lock(mutex_);
        for (auto& t : all_) f(*t);
    }

private:
    std::size_t size_;
    std::mutex mutex_;
    std::condition_variable freed_;
    std::vector<std::unique_ptr<T>> all_;
    std::vector<T*> idle_;
};

class exec_caller final : public caller {
public:
    exec_caller(const config::callout_config& c, std::string name)
        : name_(std::move(name)), command_(c.command), timeout_(c.timeout), children_(c.instances) {}

    bj::object call(const bj::object& request) override {
        return children_.with(
            clock::now() + timeout_, name_, [&] { return std::make_unique<child_process>(name_, command_); },
            [&](child_process& child) {
                try {
                    return child.call(request, timeout_);
                } catch (const failure& e) {
                    throw failure(name_ + ": " + e.what());
                }
            });
    }

    void stop() override {
        children_.each([](child_process& c) { c.stop(std::chrono::milliseconds(2000)); });
    }

private:
    std::string name_;
    std::vector<std::string> command_;
    std::chrono::milliseconds timeout_;
    pool<child_process> children_;
};

class webhook_caller final : public caller {
public:
    /// Webhooks take several requests at once: at least 8 connections.
    webhook_caller(const config::callout_config& c, std::string name)
        : name_(std::move(name)), url_(c.url), timeout_(c.timeout), connections_(std::max<std::size_t>(c.instances, 8)) {}

    bj::object call(const bj::object& request) override {
        const auto body = bj::serialize(request);
        return connections_.with(
            clock::now() + timeout_, name_, [&] { return std::make_unique<http_client>(url_); },
            [&](http_client& client) {
                http_client::response res;
                try {
                    res = client.post(body, {}, timeout_);
                } catch (const failure& e) {
                    throw failure(name_ + ": " + e.what());
                }
                if (res.status < 200 || res.status >= 300)
                    throw failure(name_ + ": " + url_ + " answered HTTP " + std::to_string(res.status) + ": " + res.body.substr(0, 200));
                if (res.body.find_first_not_of(" \t\r\n") == std::string::npos) return bj::object{};
                try {
                    auto reply = parse_json(res.body, "reply");
                    if (!reply.is_object()) throw std::runtime_error("not a JSON object");
                    return std::move(reply.as_object());
                } catch (const std::exception& e) {
                    throw failure(name_ + ": " + url_ + " answered " + std::to_string(res.status) + " with a body that is not a reply (" +
                                  e.what() + ")");
                }
            });
    }

    void stop() override {
        connections_.each([](http_client& c) { c.close(); });
    }

private:
    std::string name_;
    std::string url_;
    std::chrono::milliseconds timeout_;
    pool<http_client> connections_;
};

std::shared_mutex functions_mutex;
std::map<std::string, function>& functions() {
    static std::map<std::string, function> registered;
    return registered;
}

class function_caller final : public caller {
public:
    function_caller(function fn, std::string name) : fn_(std::move(fn)), name_(std::move(name)) {}

    bj::object call(const bj::object& request) override {
        try {
            return fn_(request);
        } catch (const std::exception& e) {
            throw failure(name_ + ": " + e.what());
        }
    }
    void stop() override {}

private:
    function fn_;
    std::string name_;
};

}  // namespace

void register_function(const std::string& name, function fn) {
    std::unique_lock lock(functions_mutex);
    functions()[name] = std::move(fn);
}

std::unique_ptr<caller> make_caller(const config::callout_config& c, const std::string& name, const std::string& key) {
    switch (c.kind) {
        case config::stage_kind::exec: return std::make_unique<exec_caller>(c, name);
        case config::stage_kind::webhook:
            if (auto problem = url_problem(c.url); !problem.empty()) throw config::config_error("config key '" + key + ".url': " + problem);
            return std::make_unique<webhook_caller>(c, name);
        case config::stage_kind::cpp: {
            std::shared_lock lock(functions_mutex);
            auto it = functions().find(c.function);
            if (it == functions().end())
                throw config::config_error("config key '" + key + ".function': no C++ function is registered as '" + c.function +
                                           "' in this program");
            return std::make_unique<function_caller>(it->second, name);
        }
        case config::stage_kind::builtin: break;
    }
    throw config::config_error("config key '" + key + ".kind': must be exec, webhook or cpp");
}

}  // namespace sluice::callout
