#include <sluice/core/error.hpp>
#include <sluice/json/diff.hpp>
#include <sluice/json/patch.hpp>
#include <sluice/store/store.hpp>

namespace sluice::store {

namespace bj = boost::json;

bj::object patched(const bj::object& document, const json::patch& patch) {
    bj::value doc = document;
    patch.apply(doc);  // throws patch_error naming the operation
    if (!doc.is_object()) {
        const auto& ops = patch.operations();
        const auto index = ops.empty() ? 0 : ops.back().source_index;
        throw json::patch_error(index, "operation " + std::to_string(index) + ": a document must stay a JSON object");
    }
    return std::move(doc.as_object());
}

bj::object client_fields(const bj::object& doc) {
    bj::object out;
    for (const auto& [key, value] : doc) {
        if (!is_system_field(key)) out.emplace(key, value);
    }
    return out;
}

change_effect compute_change(const write_request& change, const std::optional<bj::object>& before) {
    if (change.require_owner && before && change.type != write_request::kind::create &&
        before->at("owner").as_string() != change.actor)
        throw error(errc::forbidden, "document '" + change.id + "' belongs to another user");
    change_effect effect;
    switch (change.type) {
        case write_request::kind::create: {
            if (before) throw error(errc::conflict, "document '" + change.id + "' already exists");
            bj::object doc = change.body;
            doc["id"] = change.id;
            doc["owner"] = change.actor;
            doc["version"] = 1;
            doc["created_at"] = change.ts;
            doc["updated_at"] = change.ts;
            effect.after = std::move(doc);
            break;
        }
        case write_request::kind::update: {
            if (!before) throw error(errc::not_found, "document '" + change.id + "' does not exist");
            auto o = patched(*before, json::patch::parse(change.patch));  // throws patch_error (final)
            o["id"] = change.id;
            o["owner"] = before->at("owner");
            o["version"] = before->at("version").to_number<std::int64_t>() + 1;
            o["created_at"] = before->at("created_at");
            o["updated_at"] = change.ts;
            effect.after = std::move(o);
            break;
        }
        case write_request::kind::replace: {
            if (!before) throw error(errc::not_found, "document '" + change.id + "' does not exist");
            bj::object doc = change.body;
            for (const char* kept : {"owner", "created_at"}) doc[kept] = before->at(kept);
            doc["id"] = change.id;
            doc["version"] = before->at("version").to_number<std::int64_t>() + 1;
            doc["updated_at"] = change.ts;
            effect.after = std::move(doc);
            break;
        }
        case write_request::kind::remove:
            if (!before) throw error(errc::not_found, "document '" + change.id + "' does not exist");
            break;
    }
    if (effect.after && change.check_document) change.check_document(client_fields(*effect.after));
    const auto& image = effect.after ? *effect.after : *before;
    effect.owner = std::string(image.at("owner").as_string());
    effect.version = effect.after ? effect.after->at("version").to_number<std::int64_t>()
                                  : before->at("version").to_number<std::int64_t>() + 1;
    bj::object envelope{{"op", change.op},       {"event", event_name(change.type)},
                        {"app", change.app},     {"model", change.model},
                        {"id", change.id},       {"owner", effect.owner},
                        {"actor", change.actor}, {"version", effect.version},
                        {"ts", change.ts}};
    if (change.type == write_request::kind::update) envelope["patch"] = change.patch;
    // Devices get a replacement as the patch that turns what the client had into what it wrote.
    if (change.type == write_request::kind::replace) {
        envelope["patch"] = json::diff(client_fields(*before), change.body);
        envelope["replaced"] = true;  // a PUT: listeners tell `updated` from `patched`
    }
    envelope["before"] = before ? bj::value(*before) : bj::value(nullptr);
    envelope["after"] = effect.after ? bj::value(*effect.after) : bj::value(nullptr);
    effect.envelope = std::move(envelope);
    return effect;
}

}  // namespace sluice::store
