#pragma once
/// The patch between two documents (DESIGN.md §7, `PUT`: devices get the patch that turns the
/// old document into the new one).
#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

namespace sluice::json {

/// An RFC 6902 patch, normalised as `patch::to_json` writes it (`[{op, path, value?}]` with JSON
/// Pointer paths; only `add`, `remove` and `replace`), that turns `from` into `to`: applying it to
/// `from` gives a document equal to `to` (`json::equal`). Objects are compared member by member
/// and arrays element by element (extra elements removed from the end or added at it), so an
/// edit deep inside a document is one small operation; a value of another type is replaced whole.
/// Empty when the two are equal.
boost::json::array diff(const boost::json::value& from, const boost::json::value& to);

}  // namespace sluice::json
