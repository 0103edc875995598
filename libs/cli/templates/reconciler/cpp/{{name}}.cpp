#include "{{name}}.hpp"

#include <boost/json.hpp>

namespace {{ident}} {

namespace bj = boost::json;

bj::object check(const bj::object& request) {
    const auto& document = request.at("document").as_object();
    if (const auto* broken = document.if_contains("broken"); broken && broken->is_bool() && broken->get_bool())
        return {{"ok", false}, {"error", "the document is marked broken"}};
    return {{"ok", true}};
}

bj::object fix(const bj::object&) {
    return {{"ok", true}, {"patch", bj::array{bj::object{{"op", "remove"}, {"path", "/broken"}}}}};
}

}  // namespace {{ident}}
