#include <sluice/auth/tokens.hpp>

#include <jwt/jwt.hpp>

namespace sluice::auth {

namespace {

[[noreturn]] void unauthorized(const std::string& why) { throw auth_error(errc::unauthorized, why); }

/// The claims before verification: only to find which app's key verifies the token.
nlohmann::json unverified_payload(std::string_view token) {
    auto first = token.find('.');
    auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
    if (second == std::string_view::npos) unauthorized("malformed token");
    try {
        auto text = jwt::base64_uri_decode(token.data() + first + 1, second - first - 1);
        auto payload = nlohmann::json::parse(text);
        if (!payload.is_object()) unauthorized("malformed token payload");
        return payload;
    } catch (const nlohmann::json::exception&) {
        unauthorized("malformed token payload");
    }
}

std::string string_claim(const nlohmann::json& payload, const char* name) {
    auto it = payload.find(name);
    if (it == payload.end() || !it->is_string() || it->get<std::string>().empty())
        unauthorized(std::string("token has no '") + name + "' claim");
    return it->get<std::string>();
}

}  // namespace

authenticator::authenticator(std::map<std::string, config::app_config> apps) : apps_(std::move(apps)) {}

const config::app_config* authenticator::app(const std::string& name) const {
    auto it = apps_.find(name);
    return it == apps_.end() ? nullptr : &it->second;
}

claims authenticator::verify(std::string_view token) const {
    if (token.empty()) unauthorized("missing token");
    auto payload = unverified_payload(token);
    std::string app_name = string_claim(payload, "app");
    const auto* app = this->app(app_name);
    if (app == nullptr) unauthorized("unknown app '" + app_name + "'");
    const bool hs = !app->secret.empty();
    std::error_code ec;
    jwt::jwt_object decoded;
    try {
        decoded = jwt::decode(jwt::string_view(token.data(), token.size()),
                              jwt::params::algorithms({hs ? "HS256" : "RS256"}), ec,
                              jwt::params::secret(hs ? app->secret : app->public_key), jwt::params::verify(true),
                              jwt::params::leeway(0));
    } catch (const std::exception& e) {
        unauthorized(std::string("invalid token: ") + e.what());
    }
    if (ec == jwt::VerificationErrc::TokenExpired) throw auth_error(errc::token_expired, "token expired");
    if (ec) unauthorized("invalid token: " + ec.message());
    if (!decoded.has_claim("exp")) unauthorized("token has no 'exp' claim");
    claims c;
    c.app = app_name;
    c.user = string_claim(payload, "sub");
    c.device = string_claim(payload, "device");
    auto exp = payload.find("exp");
    if (!exp->is_number()) unauthorized("token 'exp' is not a number");
    c.expires = std::chrono::system_clock::time_point(std::chrono::seconds(exp->get<std::int64_t>()));
    return c;
}

std::string authenticator::mint(const std::string& app_name, const std::string& user, const std::string& device,
                                std::chrono::seconds ttl) const {
    const auto* app = this->app(app_name);
    if (app == nullptr) throw config::config_error("unknown app '" + app_name + "'");
    if (app->secret.empty())
        throw config::config_error("app '" + app_name + "' uses RS256: sign its tokens with your private key");
    jwt::jwt_object token{jwt::params::algorithm("HS256"), jwt::params::secret(app->secret),
                          jwt::params::payload({{"app", app_name}, {"sub", user}, {"device", device}})};
    token.add_claim("exp", std::chrono::system_clock::now() + ttl);
    token.add_claim("iat", std::chrono::system_clock::now());
    return token.signature();
}

}  // namespace sluice::auth
