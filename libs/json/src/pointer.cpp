#include <sluice/core/error.hpp>
#include <sluice/json/pointer.hpp>

#include <charconv>

namespace sluice::json {

namespace bj = boost::json;

bool parse_index(std::string_view token, std::size_t& index) noexcept {
    if (token.empty() || (token.size() > 1 && token.front() == '0')) return false;
    auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), index);
    return ec == std::errc() && end == token.data() + token.size();
}

pointer pointer::parse(std::string_view text) {
    pointer p;
    if (text.empty()) return p;
    if (text.front() != '/')
        throw invalid_input(errc::invalid_pointer, "JSON Pointer '" + std::string(text) + "' must start with '/'");
    std::string token;
    for (std::size_t i = 1; i <= text.size(); ++i) {
        if (i == text.size() || text[i] == '/') {
            p.tokens_.push_back(std::move(token));
            token.clear();
        } else if (text[i] == '~') {
            char next = i + 1 < text.size() ? text[i + 1] : '\0';
            if (next != '0' && next != '1')
                throw invalid_input(errc::invalid_pointer,
                                    "JSON Pointer '" + std::string(text) + "' has '~' not followed by 0 or 1");
            token += next == '0' ? '~' : '/';
            ++i;
        } else {
            token += text[i];
        }
    }
    return p;
}

pointer pointer::from_dotted(std::string_view dotted) {
    pointer p;
    if (dotted.empty()) return p;
    std::size_t start = 0;
    while (true) {
        auto dot = dotted.find('.', start);
        p.tokens_.emplace_back(dotted.substr(start, dot == dotted.npos ? dotted.npos : dot - start));
        if (dot == dotted.npos) break;
        start = dot + 1;
    }
    return p;
}

std::string pointer::to_string() const {
    std::string out;
    for (const auto& t : tokens_) {
        out += '/';
        for (char c : t) {
            if (c == '~') {
                out += "~0";
            } else if (c == '/') {
                out += "~1";
            } else {
                out += c;
            }
        }
    }
    return out;
}

bool pointer::is_proper_prefix_of(const pointer& other) const noexcept {
    if (tokens_.size() >= other.tokens_.size()) return false;
    for (std::size_t i = 0; i < tokens_.size(); ++i) {
        if (tokens_[i] != other.tokens_[i]) return false;
    }
    return true;
}

}  // namespace sluice::json
