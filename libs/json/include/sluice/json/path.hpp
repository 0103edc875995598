#pragma once
/// Dotted field paths (`a.b.0.c`) and MongoDB's rules for reaching values through them.
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::json {

struct path_segment {
    std::string key;         ///< the field name as written
    std::size_t index = 0;   ///< the array position `key` names, when `is_index`
    bool is_index = false;   ///< `key` is a canonical non-negative integer (no sign, no leading zero)
};

/// A dotted path, split once. Throws `invalid_input` on an empty path or an empty segment.
class field_path {
public:
    explicit field_path(std::string_view dotted);

    const std::string& text() const noexcept { return text_; }
    std::span<const path_segment> segments() const noexcept { return segments_; }

private:
    std::string text_;
    std::vector<path_segment> segments_;
};

/// The member `key` of `object`, or nullptr. Faster than `object::find` for the small objects
/// documents are made of: it compares lengths and first bytes before calling memcmp.
inline const boost::json::value* find_member(const boost::json::object& object, std::string_view key) noexcept {
    if (object.size() > 16) {
        auto it = object.find(key);
        return it == object.end() ? nullptr : &it->value();
    }
    for (const auto& member : object) {
        std::string_view k = member.key();
        if (k.size() == key.size() && (k.empty() || (k.front() == key.front() && std::memcmp(k.data(), key.data(), k.size()) == 0)))
            return &member.value();
    }
    return nullptr;
}

/// Calls `fn(const boost::json::value*)` for each value the path reaches in `root`, following
/// MongoDB: an array met before the last segment is traversed element by element (objects inside
/// it continue the path; a numeric segment indexes the array instead), and a branch where the
/// field does not exist yields `nullptr` once. Leaf arrays are passed whole; callers that compare
/// elements expand them. Returns true as soon as `fn` does.
template <class Fn>
bool any_value(const boost::json::value* root, std::span<const path_segment> path, Fn&& fn) {
    if (path.empty() || root == nullptr) return fn(root);
    const path_segment& seg = path.front();
    if (const auto* object = root->if_object()) {
        return any_value(find_member(*object, seg.key), path.subspan(1), fn);
    }
    if (const auto* array = root->if_array()) {
        if (seg.is_index) {
            return any_value(seg.index < array->size() ? &(*array)[seg.index] : nullptr, path.subspan(1), fn);
        }
        for (const auto& element : *array) {
            if (element.is_object() && any_value(&element, path, fn)) return true;
        }
        return false;
    }
    return fn(nullptr);
}

}  // namespace sluice::json
