#pragma once
/// Value semantics shared by filters and patches: equality that treats 1 and 1.0 as the same number
/// and objects as unordered (RFC 8259, RFC 6902 §4.6), and MongoDB's ordering of values.
#include <boost/json/value.hpp>

namespace sluice::json {

/// MongoDB's comparison brackets, in sort order. Comparison operators ($gt, ...) only compare
/// values of the same bracket; int, long and double share `number`.
enum class type_bracket : int { null = 1, number = 2, string = 3, object = 4, array = 5, boolean = 8 };

type_bracket bracket_of(const boost::json::value& v) noexcept;

/// Deep equality: numbers by value across int64/uint64/double, objects regardless of member order.
bool equal(const boost::json::value& a, const boost::json::value& b) noexcept;

/// Three-way comparison in MongoDB order (bracket first, then value). Returns <0, 0 or >0.
int compare(const boost::json::value& a, const boost::json::value& b) noexcept;

/// True for null, bool, numbers and strings.
inline bool is_scalar(const boost::json::value& v) noexcept { return !v.is_object() && !v.is_array(); }

/// The value of a JSON number as long double (exact for every int64 and uint64).
long double number_of(const boost::json::value& v) noexcept;

}  // namespace sluice::json
