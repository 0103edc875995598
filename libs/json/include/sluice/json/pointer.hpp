#pragma once
/// JSON Pointer (RFC 6901).
#include <boost/json/value.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace sluice::json {

/// A parsed pointer: its unescaped reference tokens (`~1` is `/`, `~0` is `~`).
class pointer {
public:
    pointer() = default;
    /// Throws `invalid_input` (code `invalid_pointer`) when `text` is neither empty nor starts with
    /// `/`, or has a `~` not followed by 0 or 1.
    static pointer parse(std::string_view text);
    /// From a dotted path of the seed's patch format (`a.b.0`): tokens split on dots.
    static pointer from_dotted(std::string_view dotted);

    const std::vector<std::string>& tokens() const noexcept { return tokens_; }
    bool is_root() const noexcept { return tokens_.empty(); }
    /// The pointer to the member or element `token` of what this one points to.
    pointer child(std::string token) const {
        pointer p = *this;
        p.tokens_.push_back(std::move(token));
        return p;
    }
    /// The pointer text, escaped.
    std::string to_string() const;
    /// True when `this` is a proper prefix of `other` (other points inside this).
    bool is_proper_prefix_of(const pointer& other) const noexcept;

private:
    std::vector<std::string> tokens_;
};

/// A reference token as an array index: canonical digits (no sign, no leading zero), or nullopt.
bool parse_index(std::string_view token, std::size_t& index) noexcept;

}  // namespace sluice::json
