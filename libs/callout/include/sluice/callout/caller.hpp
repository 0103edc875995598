#pragma once
/// User code called with one JSON object and answering one: hooks, and a reconciler's checks and
/// fix (DESIGN.md §9). An exec callee gets the object plus an `id` as a line and answers a line
/// with the same `id`; a webhook gets it as a POST body and answers with a 2xx JSON body; a cpp
/// callee is a function registered in the program (`register_function`).
#include <sluice/callout/child_process.hpp>
#include <sluice/config/config.hpp>

#include <boost/json/object.hpp>

#include <functional>
#include <memory>
#include <string>

namespace sluice::callout {

class caller {
public:
    virtual ~caller() = default;
    /// The callee's reply (without the exec `id`). Thread-safe: up to `instances` exec children
    /// (a webhook: connections) answer at once, further callers wait within the timeout. Throws
    /// `failure` when the callee fails, times out, or answers anything but a JSON object.
    virtual boost::json::object call(const boost::json::object& request) = 0;
    /// Ends child processes and connections; returns when they are gone.
    virtual void stop() = 0;
};

/// A caller for `c`; `name` identifies it in logs and failures ("hook demo/task#0").
/// Throws `config::config_error` naming `key` when a webhook URL is malformed or no function of
/// a cpp callee is registered.
std::unique_ptr<caller> make_caller(const config::callout_config& c, const std::string& name, const std::string& key);

/// A `kind = "cpp"` callee. A thrown exception is a failure of the call.
using function = std::function<boost::json::object(const boost::json::object& request)>;
/// Registers `fn` under `name` (`function` in the config). Call before running the CLI.
void register_function(const std::string& name, function fn);

}  // namespace sluice::callout
