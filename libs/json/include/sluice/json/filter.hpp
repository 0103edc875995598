#pragma once
/// The filter language (DESIGN.md §4): MongoDB queries over JSON documents, compiled once.
///
/// Supported: `$eq $ne $gt $gte $lt $lte $in $nin $exists $type $size $all $elemMatch $regex
/// $options $mod $not $and $or $nor $comment`, implicit equality, dotted paths, implicit array
/// traversal, null matching missing fields, and comparison within one type bracket. The seed's bare
/// operator names `gt gte lt lte ne in` are aliases when every key of the operand object is one.
/// Objects compare without regard to member order (JSON objects are unordered), unlike BSON.
#include <sluice/json/path.hpp>

#include <boost/json/value.hpp>

#include <limits>
#include <memory>
#include <string_view>
#include <vector>

namespace sluice::json {

namespace detail {
struct node;
}

/// A condition that every document matching the filter meets on one field; the subscription index
/// uses these to skip filters that cannot match. Values are reached as `any_value` reaches them,
/// leaf arrays expanded to their elements.
struct field_constraint {
    enum class kind { equals, range };
    const field_path* path;
    kind type;
    /// kind::equals: the field holds one of these (strings, numbers or booleans).
    std::vector<boost::json::value> values;
    /// kind::range: the field holds a number in [low, high] (open ends given by the flags).
    double low = -std::numeric_limits<double>::infinity();
    double high = std::numeric_limits<double>::infinity();
    bool low_open = false;   ///< `$gt` rather than `$gte`
    bool high_open = false;  ///< `$lt` rather than `$lte`
    /// The filter is this one condition and nothing else: a single `$eq`/`$in`, or numeric bounds
    /// (then exact for a field that holds one number, not an array).
    bool whole_filter = false;
};

/// A compiled query. Immutable and cheap to copy (shared); safe to use from many threads.
class filter {
public:
    /// Compiles `query` (a JSON object). Throws `sluice::invalid_input` with code `invalid_filter`
    /// and a message naming the offending field or operator (and RE2's message for a bad regex).
    static filter compile(const boost::json::value& query);
    /// Parses and compiles JSON text; malformed JSON is reported with code `invalid_json`.
    static filter compile(std::string_view query_text);
    static filter compile(const char* query_text) { return compile(std::string_view(query_text)); }

    /// True when `document` satisfies the query. Parses nothing and allocates nothing.
    bool matches(const boost::json::value& document) const noexcept;

    /// Necessary conditions on single fields, taken from the query's top-level conjunction.
    const std::vector<field_constraint>& constraints() const noexcept;

private:
    struct impl;
    explicit filter(std::shared_ptr<const impl> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<const impl> impl_;
};

}  // namespace sluice::json
