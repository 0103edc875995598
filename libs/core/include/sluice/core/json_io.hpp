#pragma once
/// Parsing JSON text into Boost.JSON values with errors that say where the text is malformed.
#include <boost/json/value.hpp>
#include <string_view>

namespace sluice {

/// Parses one JSON text. Throws `invalid_input` (code `invalid_json`) whose message names the
/// byte offset and, when given, what the text is (`what` e.g. "filter", "line 3").
boost::json::value parse_json(std::string_view text, std::string_view what = "JSON");

}  // namespace sluice
