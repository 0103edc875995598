#include <sluice/core/error.hpp>

namespace sluice {

std::string_view to_string(errc code) noexcept {
    switch (code) {
        case errc::bad_request: return "bad_request";
        case errc::invalid_json: return "invalid_json";
        case errc::invalid_input: return "invalid_input";
        case errc::invalid_filter: return "invalid_filter";
        case errc::invalid_patch: return "invalid_patch";
        case errc::invalid_pointer: return "invalid_pointer";
        case errc::invalid_path: return "invalid_path";
        case errc::invalid_channel: return "invalid_channel";
        case errc::invalid_message: return "invalid_message";
        case errc::invalid_frame: return "invalid_frame";
        case errc::unknown_event: return "unknown_event";
        case errc::not_registered: return "not_registered";
        case errc::patch_failed: return "patch_failed";
        case errc::rejected: return "rejected";
        case errc::schema_violation: return "schema_violation";
        case errc::unauthorized: return "unauthorized";
        case errc::token_expired: return "token_expired";
        case errc::forbidden: return "forbidden";
        case errc::not_found: return "not_found";
        case errc::method_not_allowed: return "method_not_allowed";
        case errc::conflict: return "conflict";
        case errc::payload_too_large: return "payload_too_large";
        case errc::too_many_subscriptions: return "too_many_subscriptions";
        case errc::config_error: return "config_error";
        case errc::unavailable: return "unavailable";
        case errc::overloaded: return "overloaded";
        case errc::hook_failed: return "hook_failed";
        case errc::internal: return "internal";
    }
    return "internal";
}

errc errc_from_string(std::string_view name) noexcept {
    for (int i = 0; i <= static_cast<int>(errc::internal); ++i) {
        if (to_string(static_cast<errc>(i)) == name) return static_cast<errc>(i);
    }
    return errc::internal;
}

error_category category_of(errc code) noexcept {
    switch (code) {
        case errc::unavailable:
        case errc::overloaded:
        case errc::hook_failed: return error_category::unavailable;
        case errc::internal: return error_category::internal;
        default: return error_category::rejected;
    }
}

}  // namespace sluice
