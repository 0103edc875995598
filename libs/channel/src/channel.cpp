#include <sluice/channel/channel.hpp>
#include <sluice/core/error.hpp>
#include <sluice/json/canonical.hpp>

#include <openssl/sha.h>

#include <algorithm>

namespace sluice::channel {

namespace {

[[noreturn]] void bad(std::string_view text, const std::string& why) {
    throw invalid_input(errc::invalid_channel, "channel '" + std::string(text) + "': " + why);
}

void append_escaped(std::string& out, std::string_view name) {
    for (char c : name) {
        if (c == '%') {
            out += "%25";
        } else if (c == ':') {
            out += "%3A";
        } else {
            out += c;
        }
    }
}

std::string unescape(std::string_view text, std::string_view part) {
    std::string out;
    out.reserve(part.size());
    for (std::size_t i = 0; i < part.size(); ++i) {
        if (part[i] != '%') {
            out += part[i];
            continue;
        }
        std::string_view code = part.substr(i + 1, 2);
        if (code == "25") {
            out += '%';
        } else if (code == "3A" || code == "3a") {
            out += ':';
        } else {
            bad(text, "bad escape '%" + std::string(code) + "'");
        }
        i += 2;
    }
    return out;
}

constexpr std::size_t filter_id_length = 16;

bool valid_filter_id(std::string_view f) {
    return f.size() == filter_id_length &&
           std::all_of(f.begin(), f.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::string filter_id(const boost::json::value& filter) {
    std::string text = json::canonical_json(filter);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < filter_id_length / 2; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 0xf];
    }
    return out;
}

std::string escape(std::string_view name) {
    std::string out;
    append_escaped(out, name);
    return out;
}

std::string channel::to_string() const {
    std::string out = pattern();
    if (filter) {
        if (!valid_filter_id(*filter))
            throw invalid_input(errc::invalid_channel, "filter id '" + *filter + "' must be 16 lower-case hex digits");
        out += ":filter:";
        out += *filter;
    }
    return out;
}

std::string channel::pattern() const {
    if (app.empty() || model.empty()) throw invalid_input(errc::invalid_channel, "a channel needs an app and a model");
    std::string out = "app:";
    append_escaped(out, app);
    if (user) {
        out += ":user:";
        append_escaped(out, *user);
    }
    out += ":model:";
    append_escaped(out, model);
    if (id) {
        out += ":id:";
        append_escaped(out, *id);
    }
    return out;
}

channel channel::parse(std::string_view text) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        auto colon = text.find(':', start);
        parts.push_back(text.substr(start, colon == text.npos ? text.npos : colon - start));
        if (colon == text.npos) break;
        start = colon + 1;
    }
    if (parts.size() % 2 != 0 || parts.size() < 4 || parts.size() > 10)
        bad(text, "expected app:A[:user:U]:model:M[:id:I][:filter:F]");
    channel c;
    std::size_t i = 0;
    auto take = [&](std::string_view label, bool optional) -> std::optional<std::string> {
        if (i < parts.size() && parts[i] == label) {
            if (parts[i + 1].empty()) bad(text, "empty " + std::string(label));
            auto value = unescape(text, parts[i + 1]);
            i += 2;
            return value;
        }
        if (!optional) bad(text, "expected '" + std::string(label) + "' at part " + std::to_string(i + 1));
        return std::nullopt;
    };
    c.app = *take("app", false);
    c.user = take("user", true);
    c.model = *take("model", false);
    c.id = take("id", true);
    if (i < parts.size() && parts[i] == "filter") {
        if (!valid_filter_id(parts[i + 1]))
            bad(text, "filter id '" + std::string(parts[i + 1]) + "' must be 16 lower-case hex digits");
        c.filter = std::string(parts[i + 1]);
        i += 2;
    }
    if (i != parts.size()) bad(text, "unexpected '" + std::string(parts[i]) + "'");
    return c;
}

std::vector<std::string> channels_for(const change_key& key) {
    std::vector<std::string> out;
    out.reserve(4);
    std::string app_part = "app:" + escape(key.app);
    std::string model_part = ":model:" + escape(key.model);
    std::string id_part = ":id:" + escape(key.id);
    out.push_back(app_part + model_part);
    out.push_back(app_part + model_part + id_part);
    if (!key.owner.empty()) {
        std::string user_part = ":user:" + escape(key.owner);
        out.push_back(app_part + user_part + model_part);
        out.push_back(app_part + user_part + model_part + id_part);
    }
    return out;
}

}  // namespace sluice::channel
