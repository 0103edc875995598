#pragma once
/// Errors every module shares. An error has a kind (`errc`, stable: its name is the `error` field
/// of HTTP bodies and the `code` of WebSocket `error` events) and a human message that names the
/// offending part of the input. Code decides on the kind or its category, never on text.
#include <stdexcept>
#include <string>
#include <string_view>

namespace sluice {

/// Who is at fault, which decides what a stage does with a failed message (DESIGN.md §6).
enum class error_category {
    rejected,     ///< the input or message itself: retrying it unchanged cannot help (4xx)
    unavailable,  ///< one of Sluice's own backends is down or full: pause and retry, never dead-letter (503)
    internal,     ///< a bug (500)
};

enum class errc {
    // rejected: malformed or impossible input
    bad_request,
    invalid_json,
    invalid_input,
    invalid_filter,
    invalid_patch,
    invalid_pointer,
    invalid_path,
    invalid_channel,
    invalid_message,
    invalid_frame,
    unknown_event,
    not_registered,
    patch_failed,
    rejected,          ///< a stage of the graph refused the change
    schema_violation,  ///< the document does not match its model's JSON Schema
    unauthorized,
    token_expired,
    forbidden,
    not_found,
    method_not_allowed,
    conflict,
    payload_too_large,
    too_many_subscriptions,
    config_error,
    // unavailable: a backend or a bound, not the input
    unavailable,
    overloaded,
    hook_failed,  ///< user code the API calls (a hook) failed, timed out or answered nonsense
    // a bug
    internal,
};

/// The snake_case name of a kind (`invalid_filter`), as sent to clients.
std::string_view to_string(errc code) noexcept;
error_category category_of(errc code) noexcept;
/// The kind named `name`; `internal` when none is.
errc errc_from_string(std::string_view name) noexcept;

/// Base of all errors Sluice reports to users.
class error : public std::runtime_error {
public:
    error(errc kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
    errc kind() const noexcept { return kind_; }
    error_category category() const noexcept { return category_of(kind_); }
    /// The kind's name (`invalid_filter`).
    std::string code() const { return std::string(to_string(kind_)); }

private:
    errc kind_;
};

/// The input a user gave is malformed or refers to something impossible (HTTP 400, CLI exit 2).
class invalid_input : public error {
public:
    using error::error;
};

/// A backend (queue, store, registry) cannot do its work now: `what` names it.
class unavailable : public error {
public:
    unavailable(std::string backend, const std::string& message)
        : error(errc::unavailable, message), backend_(std::move(backend)) {}
    const std::string& backend() const noexcept { return backend_; }

private:
    std::string backend_;
};

}  // namespace sluice
