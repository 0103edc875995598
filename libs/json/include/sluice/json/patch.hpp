#pragma once
/// Patches (DESIGN.md §5): RFC 6902 JSON Patch plus the seed's format, normalised to one list of
/// operations and applied all-or-nothing.
///
/// The seed's operations `{op, path: [dotted...], value: [...]}` become one operation per path:
/// `replace` becomes `set` (add or replace the member / array element), `incr`/`decr` become `incr`
/// (by `value`, default 1; a missing member counts as 0), `append`/`prepend` add to the end / front
/// of an array or string (a missing member becomes a one-element array).
#include <sluice/core/error.hpp>
#include <sluice/json/pointer.hpp>

#include <boost/json/value.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace sluice::json {

/// A patch that cannot be applied (a failed `test`, a missing path, a wrong type). `index()` is the
/// position of the offending operation in the patch as the user wrote it. Code `patch_failed`.
class patch_error : public error {
public:
    patch_error(std::size_t index, const std::string& message)
        : error(errc::patch_failed, message), index_(index) {}
    std::size_t index() const noexcept { return index_; }

private:
    std::size_t index_;
};

struct patch_operation {
    enum class kind { add, remove, replace, move, copy, test, set, incr, append, prepend };
    kind op;
    pointer path;
    pointer from;              ///< move, copy
    boost::json::value value;  ///< add, replace, test, set, incr, append, prepend
    std::size_t source_index;  ///< position in the patch as written
};

const char* to_string(patch_operation::kind k) noexcept;

class patch {
public:
    /// Reads an RFC 6902 array, a seed-format array, a mix, or a single seed operation object.
    /// Throws `invalid_input` (code `invalid_patch`) naming the operation index and the problem.
    static patch parse(const boost::json::value& source);
    static patch parse(std::string_view text);
    static patch parse(const char* text) { return parse(std::string_view(text)); }

    /// Applies every operation to `document`, or none: on failure `document` is unchanged and
    /// `patch_error` is thrown.
    void apply(boost::json::value& document) const;
    boost::json::value applied_to(const boost::json::value& document) const;

    const std::vector<patch_operation>& operations() const noexcept { return operations_; }
    /// The normalised operations as JSON: `[{op, path: "/json/pointer", value?, from?}]`.
    boost::json::array to_json() const;

private:
    std::vector<patch_operation> operations_;
};

}  // namespace sluice::json
