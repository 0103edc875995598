#include "{{name}}.hpp"

#include <boost/json.hpp>

namespace {{ident}} {

namespace bj = boost::json;
using sluice::pipeline::reply;

reply handle(const sluice::pipeline::stage_request& request) {
    reply r;  // action "next": on to the configured next stages
    const auto* message = request.message.if_object();
    if (message && message->contains("event") && message->at("event") == "model_created" && message->contains("data") &&
        message->at("data").is_object()) {
        bj::object edited = *message;
        edited["data"].as_object()["checked_by"] = "{{name}}";
        r.message = std::move(edited);
    }
    return r;
}

}  // namespace {{ident}}
