#pragma once
// Cross-origin requests from browsers (DESIGN.md §7, `[http] cors_origins`): which origins may
// call, and the headers their answers carry. Free of Beast: the transport applies it.
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::net {

class cors_policy {
public:
    /// `origins` as configured (lower case; `*` for any).
    explicit cors_policy(const std::vector<std::string>& origins) : origins_(origins) {}

    /// Whether any origin is listed: otherwise requests are answered as if CORS did not exist.
    bool enabled() const { return !origins_.empty(); }

    /// Whether a request carrying `Origin: origin` may be answered for a page of that origin.
    bool allows(std::string_view origin) const {
        if (origin.empty()) return false;
        std::string lower(origin);
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return std::any_of(origins_.begin(), origins_.end(), [&](const std::string& o) { return o == "*" || o == lower; });
    }

    /// A preflight: the methods and headers a page may use, and how long it may remember them.
    static constexpr std::string_view allowed_methods = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
    static constexpr std::string_view allowed_headers = "authorization, content-type, last-event-id";
    static constexpr std::string_view max_age_seconds = "600";

private:
    const std::vector<std::string>& origins_;
};

}  // namespace sluice::net
