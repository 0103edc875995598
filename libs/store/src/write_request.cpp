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

void escape_part(std::string& out, std::string_view part) {
    for (char c : part) {
        if (c == '%') {
            out += "%25";
        } else if (c == '/') {
            out += "%2F";
        } else {
            out += c;
        }
    }
}

}  // namespace

const char* event_name(write_request::kind k) noexcept {
    switch (k) {
        case write_request::kind::create: return "model_created";
        case write_request::kind::update:
        case write_request::kind::replace: return "model_updated";
        case write_request::kind::remove: return "model_deleted";
    }
    return "";
}

std::string ordering_key(std::string_view app, std::string_view model, std::string_view id) {
    std::string key;
    key.reserve(app.size() + model.size() + id.size() + 2);
    escape_part(key, app);
    key += '/';
    escape_part(key, model);
    key += '/';
    escape_part(key, id);
    return key;
}

bj::object write_request::to_json() const {
    bj::object o{{"op", op}, {"event", event_name(type)}, {"app", app}, {"model", model}, {"id", id},
                 {"owner", owner}, {"actor", actor}, {"ts", ts}};
    if (type == kind::create || type == kind::replace) o["data"] = body;
    if (type == kind::update) o["patch"] = patch;
    return o;
}

write_request write_request::from_json(const bj::value& v) {
    try {
        const auto& o = v.as_object();
        write_request r;
        r.op = o.at("op").as_string();
        if (const auto* e = o.if_contains("event")) {
            std::string_view k = e->as_string();
            r.type = k == "model_created" ? kind::create : k == "model_updated" ? kind::update : k == "model_deleted" ? kind::remove
                                                                                   : throw std::invalid_argument("unknown event");
        } else {  // queued by an earlier version
            std::string_view k = o.at("kind").as_string();
            r.type = k == "create" ? kind::create : k == "update" ? kind::update : k == "delete" ? kind::remove
                                                                                                 : throw std::invalid_argument("kind");
        }
        if (const auto* owner = o.if_contains("owner"); owner && owner->is_string()) r.owner = owner->get_string();
        r.app = o.at("app").as_string();
        r.model = o.at("model").as_string();
        r.id = o.at("id").as_string();
        r.actor = o.at("actor").as_string();
        r.ts = o.at("ts").to_number<std::int64_t>();
        if (r.type == kind::update && o.contains("data") && !o.contains("patch")) r.type = kind::replace;
        if (r.type == kind::create || r.type == kind::replace) r.body = (o.contains("data") ? o.at("data") : o.at("body")).as_object();
        if (r.type == kind::update) r.patch = o.at("patch").as_array();
        return r;
    } catch (const std::exception& e) {
        throw invalid_input(errc::invalid_message, std::string("malformed write request: ") + e.what());
    }
}

}  // namespace sluice::store
