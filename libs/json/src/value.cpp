#include <sluice/json/value.hpp>

#include <algorithm>

namespace sluice::json {

namespace bj = boost::json;

type_bracket bracket_of(const bj::value& v) noexcept {
    switch (v.kind()) {
        case bj::kind::null: return type_bracket::null;
        case bj::kind::bool_: return type_bracket::boolean;
        case bj::kind::int64:
        case bj::kind::uint64:
        case bj::kind::double_: return type_bracket::number;
        case bj::kind::string: return type_bracket::string;
        case bj::kind::object: return type_bracket::object;
        case bj::kind::array: return type_bracket::array;
    }
    return type_bracket::null;
}

long double number_of(const bj::value& v) noexcept {
    switch (v.kind()) {
        case bj::kind::int64: return static_cast<long double>(v.get_int64());
        case bj::kind::uint64: return static_cast<long double>(v.get_uint64());
        case bj::kind::double_: return v.get_double();
        default: return 0;
    }
}

bool equal(const bj::value& a, const bj::value& b) noexcept {
    if (a.kind() == b.kind()) {
        switch (a.kind()) {
            case bj::kind::null: return true;
            case bj::kind::bool_: return a.get_bool() == b.get_bool();
            case bj::kind::int64: return a.get_int64() == b.get_int64();
            case bj::kind::uint64: return a.get_uint64() == b.get_uint64();
            case bj::kind::double_: return a.get_double() == b.get_double();
            case bj::kind::string: return a.get_string() == b.get_string();
            case bj::kind::array: {
                const auto& x = a.get_array();
                const auto& y = b.get_array();
                return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin(), [](auto& l, auto& r) {
                           return equal(l, r);
                       });
            }
            case bj::kind::object: {
                const auto& x = a.get_object();
                const auto& y = b.get_object();
                if (x.size() != y.size()) return false;
                for (const auto& member : x) {
                    auto it = y.find(member.key());
                    if (it == y.end() || !equal(member.value(), it->value())) return false;
                }
                return true;
            }
        }
    }
    if (a.is_number() && b.is_number()) return number_of(a) == number_of(b);
    return false;
}

namespace {

template <class T>
int three_way(const T& x, const T& y) {
    return x < y ? -1 : (y < x ? 1 : 0);
}

}  // namespace

int compare(const bj::value& a, const bj::value& b) noexcept {
    auto ba = bracket_of(a), bb = bracket_of(b);
    if (ba != bb) return three_way(static_cast<int>(ba), static_cast<int>(bb));
    switch (ba) {
        case type_bracket::null: return 0;
        case type_bracket::boolean: return three_way(a.get_bool(), b.get_bool());
        case type_bracket::number: return three_way(number_of(a), number_of(b));
        case type_bracket::string: return a.get_string().subview().compare(b.get_string().subview());
        case type_bracket::array: {
            const auto& x = a.get_array();
            const auto& y = b.get_array();
            for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
                if (int c = compare(x[i], y[i])) return c;
            }
            return three_way(x.size(), y.size());
        }
        case type_bracket::object: {
            // BSON order: member by member, first by value bracket, then name, then value.
            const auto& x = a.get_object();
            const auto& y = b.get_object();
            auto i = x.begin();
            auto j = y.begin();
            for (; i != x.end() && j != y.end(); ++i, ++j) {
                if (int c = three_way(static_cast<int>(bracket_of(i->value())), static_cast<int>(bracket_of(j->value()))))
                    return c;
                if (int c = i->key().compare(j->key())) return c < 0 ? -1 : 1;
                if (int c = compare(i->value(), j->value())) return c;
            }
            return three_way(x.size(), y.size());
        }
    }
    return 0;
}

}  // namespace sluice::json
