#pragma once
/// Errors every module shares: a machine-readable code (stable, used in HTTP bodies and
/// WebSocket `error` events) and a human message that names the offending part of the input.
#include <stdexcept>
#include <string>

namespace sluice {

/// Base of all errors Sluice reports to users. `code()` is a short snake_case identifier such as
/// `invalid_filter`; `what()` is the message.
class error : public std::runtime_error {
public:
    error(std::string code, const std::string& message) : std::runtime_error(message), code_(std::move(code)) {}
    const std::string& code() const noexcept { return code_; }

private:
    std::string code_;
};

/// The input a user gave is malformed or refers to something impossible (HTTP 400, CLI exit 2).
class invalid_input : public error {
public:
    using error::error;
};

}  // namespace sluice
