#pragma once
/// Dotted field paths (`a.b.0.c`) and MongoDB's rules for reaching values through them.
#include <boost/json/value.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::json {

struct path_segment {
    std::string key;         ///< the field name as written
    std::size_t index = 0;   ///< the array position `key` names, when `is_index`
    bool is_index = false;   ///< `key` is a canonical non-negative integer (no sign, no leading zero)
    /// Where `key` was last found in an object: documents of one model tend to share their member
    /// order, so looking there first usually skips the scan. Accessed through atomic_ref.
    mutable std::uint32_t position_hint = 0;
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

inline bool same_key(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {  // keys are short: cheaper than a memcmp call
        if (a[i] != b[i]) return false;
    }
    return true;
}

/// The member `key` of `object`, or nullptr. Faster than `object::find` for the small objects
/// documents are made of.
inline const boost::json::value* find_member(const boost::json::object& object, std::string_view key) noexcept {
    if (object.size() > 16) {
        auto it = object.find(key);
        return it == object.end() ? nullptr : &it->value();
    }
    for (const auto& member : object) {
        if (same_key(member.key(), key)) return &member.value();
    }
    return nullptr;
}

/// `find_member` for a path segment, trying the segment's position hint first.
inline const boost::json::value* find_member(const boost::json::object& object, const path_segment& seg) noexcept {
    std::atomic_ref<std::uint32_t> hint(seg.position_hint);
    std::uint32_t h = hint.load(std::memory_order_relaxed);
    const std::size_t n = object.size();
    if (h < n) {
        const auto& member = object.begin()[h];
        if (same_key(member.key(), seg.key)) return &member.value();
    }
    if (n > 16) return find_member(object, std::string_view(seg.key));
    for (std::uint32_t i = 0; i < n; ++i) {
        const auto& member = object.begin()[i];
        if (same_key(member.key(), seg.key)) {
            hint.store(i, std::memory_order_relaxed);
            return &member.value();
        }
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
        return any_value(find_member(*object, seg), path.subspan(1), fn);
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
