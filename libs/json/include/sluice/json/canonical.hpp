#pragma once
/// The canonical text of a JSON value, so that equal filters get one name (DESIGN.md §3).
#include <boost/json/value.hpp>
#include <string>

namespace sluice::json {

/// `v` as canonical JSON: no white space; object members sorted by key (by UTF-8 bytes, which is
/// Unicode code point order), recursively; arrays in their order; strings as UTF-8 with only `"`,
/// `\` and control characters escaped (`\b \f \n \r \t`, others `\u00xx`, lower-case hex).
/// For values made of objects, arrays, strings, booleans, null and integers this is exactly
/// Python's `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.
/// Numbers: integers in decimal; a double with an integral value below 2^53 in magnitude is written
/// as that integer (`1.0` → `1`, `-0.0` → `0`: filters treat them as equal); any other double in
/// the shortest form that reads back exactly (`std::to_chars`, e.g. `0.5`, `1e+100`).
std::string canonical_json(const boost::json::value& v);

}  // namespace sluice::json
