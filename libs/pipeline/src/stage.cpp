#include <sluice/core/error.hpp>
#include <sluice/pipeline/stage.hpp>

#include <boost/json/serialize.hpp>

#include <map>
#include <mutex>

namespace sluice::pipeline {

namespace bj = boost::json;

namespace {

[[noreturn]] void bad_reply(const std::string& why) { throw invalid_input(errc::invalid_message, "invalid reply: " + why); }

}  // namespace

reply reply::from_json(const bj::value& v) {
    const auto* o = v.if_object();
    if (o == nullptr) bad_reply("a reply must be a JSON object");
    reply r;
    if (const auto* a = o->if_contains("action"); a && !a->is_null()) {
        if (!a->is_string()) bad_reply("'action' must be a string");
        std::string_view name = a->get_string();
        if (name == "next") {
            r.what = action::next;
        } else if (name == "done") {
            r.what = action::done;
        } else if (name == "retry") {
            r.what = action::retry;
        } else if (name == "dead_letter") {
            r.what = action::dead_letter;
        } else {
            bad_reply("unknown action '" + std::string(name) + "' (next, done, retry, dead_letter)");
        }
    }
    if (const auto* m = o->if_contains("message"); m && !m->is_null()) r.message = *m;
    if (const auto* n = o->if_contains("next"); n && !n->is_null()) {
        auto add = [&](const bj::value& x) {
            if (!x.is_string() || x.get_string().empty()) bad_reply("'next' must name stages");
            r.next.emplace_back(x.get_string());
        };
        if (n->is_array()) {
            for (const auto& x : n->get_array()) add(x);
        } else {
            add(*n);
        }
    }
    if (const auto* t = o->if_contains("retry_after_ms"); t && !t->is_null()) {
        if (!t->is_number() || t->to_number<double>() < 0) bad_reply("'retry_after_ms' must be a non-negative number");
        r.retry_after = std::chrono::milliseconds(static_cast<std::int64_t>(t->to_number<double>()));
    }
    if (const auto* why = o->if_contains("reason"); why && !why->is_null()) {
        if (!why->is_string()) bad_reply("'reason' must be a string");
        r.reason = why->get_string();
    }
    return r;
}

outcome reply::to_outcome(const std::string& input) const {
    switch (what) {
        case action::next: return outcome::forward(message ? bj::serialize(*message) : input, next);
        case action::done: return outcome::done();
        case action::retry: return outcome::retry(reason.empty() ? "the stage asked for a retry" : reason, retry_after);
        case action::dead_letter: return outcome::dead(reason.empty() ? "dead-lettered by the stage" : reason);
    }
    return outcome::done();
}

namespace {

std::mutex registry_mutex;
std::map<std::string, stage_function>& functions() {
    static std::map<std::string, stage_function> registered;
    return registered;
}

}  // namespace

void register_stage(const std::string& name, stage_function fn) {
    std::lock_guard lock(registry_mutex);
    functions()[name] = std::move(fn);
}

const stage_function* registered_stage(const std::string& name) {
    std::lock_guard lock(registry_mutex);
    auto it = functions().find(name);
    return it == functions().end() ? nullptr : &it->second;
}

}  // namespace sluice::pipeline
