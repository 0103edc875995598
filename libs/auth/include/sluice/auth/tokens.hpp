#pragma once
/// Access tokens (DESIGN.md §7 "Auth"): JWTs whose claims name the app (`app`), the user (`sub`)
/// and the device (`device`). Each app has one key and exactly one algorithm: HS256 with a shared
/// secret or RS256 with a public key. `exp` is required; `alg: none` and algorithm confusion are
/// rejected.
#include <sluice/config/config.hpp>
#include <sluice/core/error.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace sluice::auth {

/// Codes: `unauthorized` (missing, malformed, forged, unknown app), `token_expired`.
class auth_error : public error {
public:
    using error::error;
};

struct claims {
    std::string app;
    std::string user;
    std::string device;
    std::chrono::system_clock::time_point expires;
};

class authenticator {
public:
    explicit authenticator(std::map<std::string, config::app_config> apps);

    /// Verifies signature, algorithm and expiry. Throws `auth_error`.
    claims verify(std::string_view token) const;

    /// A token for an HS256 app (development; `sluice token`). Throws `config::config_error` for an
    /// unknown app or an RS256 app (whose private key Sluice never holds).
    std::string mint(const std::string& app, const std::string& user, const std::string& device,
                     std::chrono::seconds ttl) const;

    const config::app_config* app(const std::string& name) const;

private:
    std::map<std::string, config::app_config> apps_;
};

}  // namespace sluice::auth
