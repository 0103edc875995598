#include "{{name}}.hpp"

#include <boost/json.hpp>

#include <iostream>
#include <string_view>

namespace {{ident}} {

sluice::pipeline::reply handle(const sluice::pipeline::stage_request& request) {
    const auto& envelope = request.message.as_object();
    auto text = [&](const char* key) { return std::string_view(envelope.at(key).as_string()); };
    std::clog << "{{name}}: " << text("event") << " " << text("app") << "/" << text("model") << "/" << text("id") << std::endl;
    sluice::pipeline::reply r;
    r.what = sluice::pipeline::reply::action::done;
    return r;
}

}  // namespace {{ident}}
