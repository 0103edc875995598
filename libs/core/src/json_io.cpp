#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>

#include <boost/json/parser.hpp>

namespace sluice {

boost::json::value parse_json(std::string_view text, std::string_view what) {
    boost::json::parse_options options;
    options.max_depth = 64;
    boost::json::parser parser({}, options);
    boost::system::error_code ec;
    std::size_t consumed = parser.write(text.data(), text.size(), ec);
    if (!ec) return parser.release();
    throw invalid_input(errc::invalid_json, std::string(what) + " is not valid JSON: " + ec.message() +
                                            " at offset " + std::to_string(consumed));
}

}  // namespace sluice
