#include <sluice/core/error.hpp>
#include <sluice/store/store.hpp>

namespace sluice::store {

namespace bj = boost::json;

bool is_system_field(std::string_view name) noexcept {
    for (const char* f : system_fields) {
        if (name == f) return true;
    }
    return false;
}

namespace {

const char* kind_name(write_request::kind k) {
    switch (k) {
        case write_request::kind::create: return "create";
        case write_request::kind::update: return "update";
        case write_request::kind::remove: return "delete";
    }
    return "";
}

}  // namespace

bj::object write_request::to_json() const {
    bj::object o{{"op", op}, {"kind", kind_name(type)}, {"app", app}, {"model", model},
                 {"id", id}, {"actor", actor}, {"ts", ts}};
    if (type == kind::create) o["body"] = body;
    if (type == kind::update) o["patch"] = patch;
    return o;
}

write_request write_request::from_json(const bj::value& v) {
    try {
        const auto& o = v.as_object();
        write_request r;
        r.op = o.at("op").as_string();
        std::string_view k = o.at("kind").as_string();
        r.type = k == "create" ? kind::create : k == "update" ? kind::update : k == "delete" ? kind::remove
                                                                                             : throw std::invalid_argument("kind");
        r.app = o.at("app").as_string();
        r.model = o.at("model").as_string();
        r.id = o.at("id").as_string();
        r.actor = o.at("actor").as_string();
        r.ts = o.at("ts").to_number<std::int64_t>();
        if (r.type == kind::create) r.body = o.at("body").as_object();
        if (r.type == kind::update) r.patch = o.at("patch").as_array();
        return r;
    } catch (const std::exception& e) {
        throw invalid_input("invalid_message", std::string("malformed write request: ") + e.what());
    }
}

}  // namespace sluice::store
