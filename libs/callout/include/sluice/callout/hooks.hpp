#pragma once
/// The hooks of every model (DESIGN.md §9 "Services and hooks"): user code at the points
/// `before|after` × `create|get|find|update|patch|remove` of the API, run in the order configured.
///
/// A hook gets `{hook, app, model, id?, user, device, data? | patch? | query? | result?}` and
/// answers `{}` (go on), a replacement of the field it got, or `{"error": {"status": 4xx, "code",
/// "message"}}` (the API answers it as is).
#include <sluice/callout/caller.hpp>
#include <sluice/core/error.hpp>

#include <boost/json/object.hpp>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::callout {

/// A hook's refusal: answer `status` (4xx) with `{"error": code, "message": message}`.
class hook_refusal : public std::runtime_error {
public:
    hook_refusal(unsigned status, std::string code, const std::string& message)
        : std::runtime_error(message), status_(status), code_(std::move(code)) {}
    unsigned status() const noexcept { return status_; }
    const std::string& code() const noexcept { return code_; }

private:
    unsigned status_;
    std::string code_;
};

class hooks {
public:
    /// The hooks of `c`'s models (exec children start at their first call). Throws
    /// `config::config_error` naming the key of a bad one.
    explicit hooks(const config::config& c);
    ~hooks();

    /// Whether `app`/`model` has a hook on `point` ("before:create"). Cheap: the API asks it for
    /// every request, and a model without hooks costs nothing more.
    bool has(const std::string& app, const std::string& model, std::string_view point) const;

    /// Runs the hooks of `point` in order. `request` holds `app`, `model`, `user`, `device` and
    /// `id` when there is one; `field` (data | patch | query | result, or empty) names the value
    /// the hooks may replace, starting from `value`. Returns its final value. Throws
    /// `hook_refusal` when a hook refuses, and `sluice::error` `hook_failed` (503) when one fails,
    /// times out, or answers something that is no reply (a replacement of the wrong type
    /// included). Thread-safe.
    boost::json::value run(std::string_view point, boost::json::object request, std::string_view field, boost::json::value value) const;

    /// Ends the hooks' child processes and connections.
    void stop();

private:
    struct hook {
        std::vector<std::string> on;
        std::unique_ptr<caller> call;
    };
    std::map<std::pair<std::string, std::string>, std::vector<hook>> models_;  // (app, model)
};

}  // namespace sluice::callout
