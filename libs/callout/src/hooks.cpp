#include <sluice/callout/hooks.hpp>

#include <algorithm>

namespace sluice::callout {

namespace bj = boost::json;

namespace {

[[noreturn]] void misbehaved(const std::string& what) { throw error(errc::hook_failed, what); }

/// The replacement must keep the kind of value the operation needs.
void check_replacement(std::string_view field, const bj::value& v, const std::string& who) {
    if ((field == "data" || field == "query") && !v.is_object())
        misbehaved(who + " answered a '" + std::string(field) + "' that is not an object");
    if (field == "patch" && !v.is_array()) misbehaved(who + " answered a 'patch' that is not an array of operations");
}

/// The hook's `{"error": {status, code, message}}`, as a refusal.
[[noreturn]] void refuse(const bj::value& e, const std::string& who) {
    const auto* o = e.if_object();
    const auto* status = o ? o->if_contains("status") : nullptr;
    if (!status || !status->is_int64() || status->get_int64() < 400 || status->get_int64() > 499)
        misbehaved(who + " answered an 'error' without a 4xx 'status'");
    const auto* code = o->if_contains("code");
    const auto* message = o->if_contains("message");
    throw hook_refusal(static_cast<unsigned>(status->get_int64()), code && code->is_string() ? std::string(code->get_string()) : "rejected",
                       message && message->is_string() ? std::string(message->get_string()) : who + " refused the request");
}

}  // namespace

hooks::hooks(const config::config& c) {
    for (const auto& [app_name, app] : c.apps) {
        for (const auto& [model_name, model] : app.models) {
            for (std::size_t i = 0; i < model.hooks.size(); ++i) {
                const auto& h = model.hooks[i];
                const auto key = "apps." + app_name + ".models." + model_name + ".hooks[" + std::to_string(i) + "]";
                models_[{app_name, model_name}].push_back(
                    {h.on, make_caller(h.call, "hook " + app_name + "/" + model_name + "[" + std::to_string(i) + "]", key)});
            }
        }
    }
}

hooks::~hooks() { stop(); }

bool hooks::has(const std::string& app, const std::string& model, std::string_view point) const {
    if (models_.empty()) return false;
    auto it = models_.find({app, model});
    if (it == models_.end()) return false;
    return std::any_of(it->second.begin(), it->second.end(),
                       [&](const hook& h) { return std::find(h.on.begin(), h.on.end(), point) != h.on.end(); });
}

bj::value hooks::run(std::string_view point, bj::object request, std::string_view field, bj::value value) const {
    auto it = models_.find({std::string(request.at("app").as_string()), std::string(request.at("model").as_string())});
    if (it == models_.end()) return value;
    request["hook"] = point;
    std::size_t index = 0;
    for (const auto& h : it->second) {
        ++index;
        if (std::find(h.on.begin(), h.on.end(), point) == h.on.end()) continue;
        const auto who = "hook " + std::to_string(index) + " on " + std::string(point);
        if (!field.empty()) request[field] = value;
        bj::object reply;
        try {
            reply = h.call->call(request);
        } catch (const failure& e) {
            misbehaved(e.what());
        }
        if (const auto* e = reply.if_contains("error"); e && !e->is_null()) refuse(*e, who);
        if (field.empty()) continue;
        if (auto* replaced = reply.if_contains(field)) {
            check_replacement(field, *replaced, who);
            value = std::move(*replaced);
        }
    }
    return value;
}

void hooks::stop() {
    for (auto& [model, list] : models_) {
        for (auto& h : list) h.call->stop();
    }
}

}  // namespace sluice::callout
