#include <sluice/json/diff.hpp>
#include <sluice/json/pointer.hpp>
#include <sluice/json/value.hpp>

#include <string>

namespace sluice::json {

namespace bj = boost::json;

namespace {

void operation(bj::array& out, const char* op, const pointer& at, const bj::value* value) {
    bj::object o{{"op", op}, {"path", at.to_string()}};
    if (value != nullptr) o["value"] = *value;
    out.push_back(std::move(o));
}

void diff_at(const bj::value& from, const bj::value& to, const pointer& at, bj::array& out) {
    if (equal(from, to)) return;
    if (from.is_object() && to.is_object()) {
        const auto& a = from.get_object();
        const auto& b = to.get_object();
        for (const auto& [key, value] : a) {
            if (!b.contains(key)) operation(out, "remove", at.child(std::string(key)), nullptr);
        }
        for (const auto& [key, value] : b) {
            const auto* old = a.if_contains(key);
            if (old == nullptr) {
                operation(out, "add", at.child(std::string(key)), &value);
            } else {
                diff_at(*old, value, at.child(std::string(key)), out);
            }
        }
        return;
    }
    if (from.is_array() && to.is_array()) {
        const auto& a = from.get_array();
        const auto& b = to.get_array();
        const auto common = std::min(a.size(), b.size());
        for (std::size_t i = 0; i < common; ++i) diff_at(a[i], b[i], at.child(std::to_string(i)), out);
        // From the end, so that each index is still the element meant.
        for (std::size_t i = a.size(); i > common; --i) operation(out, "remove", at.child(std::to_string(i - 1)), nullptr);
        for (std::size_t i = common; i < b.size(); ++i) operation(out, "add", at.child(std::to_string(i)), &b[i]);
        return;
    }
    operation(out, "replace", at, &to);
}

}  // namespace

bj::array diff(const bj::value& from, const bj::value& to) {
    bj::array out;
    diff_at(from, to, pointer(), out);
    return out;
}

}  // namespace sluice::json
