#include <algorithm>
#include <boost/json/value.hpp>
#include <charconv>
#include <cmath>
#include <sluice/json/canonical.hpp>
#include <string_view>
#include <vector>

namespace sluice::json {

namespace bj = boost::json;

namespace {

void append_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    for (char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    out += "\\u00";
                    out += hex[static_cast<unsigned char>(c) >> 4];
                    out += hex[static_cast<unsigned char>(c) & 0xf];
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

template <class Number>
void append_number(std::string& out, Number n) {
    char buffer[64];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, n);
    out.append(buffer, end);
}

void append_double(std::string& out, double d) {
    constexpr double exact_limit = 9007199254740992.0;  // 2^53
    if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < exact_limit) {
        append_number(out, static_cast<std::int64_t>(d));
    } else {
        append_number(out, d);
    }
}

void append(std::string& out, const bj::value& v) {
    switch (v.kind()) {
        case bj::kind::null:
            out += "null";
            break;
        case bj::kind::bool_:
            out += v.get_bool() ? "true" : "false";
            break;
        case bj::kind::int64:
            append_number(out, v.get_int64());
            break;
        case bj::kind::uint64:
            append_number(out, v.get_uint64());
            break;
        case bj::kind::double_:
            append_double(out, v.get_double());
            break;
        case bj::kind::string:
            append_string(out, v.get_string());
            break;
        case bj::kind::array: {
            out += '[';
            bool first = true;
            for (const auto& e : v.get_array()) {
                if (!first) out += ',';
                first = false;
                append(out, e);
            }
            out += ']';
            break;
        }
        case bj::kind::object: {
            const auto& o = v.get_object();
            std::vector<const bj::key_value_pair*> members;
            members.reserve(o.size());
            for (const auto& m : o) members.push_back(&m);
            // Keys are unique in a boost::json::object; string_view compares bytes as unsigned.
            std::sort(members.begin(), members.end(),
                      [](const auto* a, const auto* b) { return a->key() < b->key(); });
            out += '{';
            bool first = true;
            for (const auto* m : members) {
                if (!first) out += ',';
                first = false;
                append_string(out, m->key());
                out += ':';
                append(out, m->value());
            }
            out += '}';
            break;
        }
    }
}

}  // namespace

std::string canonical_json(const bj::value& v) {
    std::string out;
    append(out, v);
    return out;
}

}  // namespace sluice::json
