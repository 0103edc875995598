#include <sluice/core/error.hpp>
#include <sluice/json/path.hpp>

#include <charconv>

namespace sluice::json {

field_path::field_path(std::string_view dotted) : text_(dotted) {
    if (dotted.empty()) throw invalid_input(errc::invalid_path, "empty field path");
    std::size_t start = 0;
    while (true) {
        std::size_t dot = dotted.find('.', start);
        std::string_view key = dotted.substr(start, dot == std::string_view::npos ? dotted.npos : dot - start);
        if (key.empty()) throw invalid_input(errc::invalid_path, "field path '" + text_ + "' has an empty segment");
        path_segment seg{std::string(key)};
        bool canonical = key.size() == 1 || key.front() != '0';
        auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), seg.index);
        seg.is_index = canonical && ec == std::errc() && end == key.data() + key.size();
        segments_.push_back(std::move(seg));
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
}

}  // namespace sluice::json
