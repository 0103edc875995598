#include "api.hpp"

#include <sluice/channel/channel.hpp>
#include <sluice/core/error.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/json/patch.hpp>
#include <sluice/json/value.hpp>
#include <sluice/reconcile/reconcilers.hpp>

#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <vector>

namespace sluice::net {

namespace bj = boost::json;
using sluice::config::access;

namespace {

[[noreturn]] void fail(errc code, const std::string& message) { throw error(code, message); }

http_response json_response(unsigned status, const bj::value& body) { return {status, bj::serialize(body)}; }

/// The route's path segments, decoded, and whether `?wait=1` was given.
struct target {
    std::vector<std::string> segments;  ///< percent-decoded
    std::vector<std::string> raw;       ///< as sent
    bool wait = false;
};

target parse_target(const std::string& text) {
    auto url = boost::urls::parse_origin_form(text);
    if (!url) fail(errc::bad_request, "malformed request target");
    target t;
    for (auto seg : url->segments()) t.segments.emplace_back(seg);
    for (auto seg : url->encoded_segments()) t.raw.emplace_back(seg);
    if (!t.segments.empty() && t.segments.back().empty()) {
        t.segments.pop_back();
        t.raw.pop_back();
    }
    for (auto param : url->params()) {
        if (param.key == "wait") t.wait = param.value == "1" || param.value == "true";
    }
    return t;
}

bj::value parse_body(const std::string& body, const char* what) {
    if (body.empty()) fail(errc::invalid_json, std::string(what) + " is empty");
    return parse_json(body, what);
}

std::string bearer(const std::string& header) {
    constexpr std::string_view prefix = "Bearer ";
    if (header.size() <= prefix.size() || header.compare(0, prefix.size(), prefix) != 0) return {};
    return header.substr(prefix.size());
}

/// A hook's own 4xx answer, as it gave it (DESIGN.md §9).
http_response refusal_response(const callout::hook_refusal& e) {
    return json_response(e.status(), bj::object{{"error", e.code()}, {"message", e.what()}});
}

/// What every hook gets about the request: `{app, model, id?, user, device}`.
bj::object hook_request(const std::string& app, const std::string& model, const std::string* id, const auth::claims& who) {
    bj::object r{{"app", app}, {"model", model}, {"user", who.user}, {"device", who.device}};
    if (id) r["id"] = *id;
    return r;
}

/// A copy of `request` with another body (what the before-hooks made of it).
std::shared_ptr<const http_request> with_body(const http_request& request, const bj::value& body) {
    auto copy = std::make_shared<http_request>(request);
    copy->body = bj::serialize(body);
    return copy;
}

/// The error a `?wait=1` request gets when the writer could not apply its change.
http_response failure_response(std::exception_ptr failure) {
    try {
        std::rethrow_exception(failure);
    } catch (const error& e) {
        return api::error_response(e.kind(), e.what());
    } catch (const std::exception& e) {
        return api::error_response(errc::internal, e.what());
    }
}

}  // namespace

unsigned api::status_of(errc code) {
    switch (code) {
        case errc::unauthorized:
        case errc::token_expired: return 401;
        case errc::forbidden: return 403;
        case errc::not_found: return 404;
        case errc::method_not_allowed: return 405;
        case errc::conflict:
        case errc::too_many_subscriptions: return 409;
        case errc::payload_too_large: return 413;
        case errc::patch_failed:
        case errc::schema_violation:
        case errc::rejected: return 422;
        case errc::internal: return 500;
        case errc::unavailable:
        case errc::overloaded:
        case errc::hook_failed: return 503;
        default: return 400;  // invalid_json, invalid_filter, invalid_patch, invalid_input, bad_request, ...
    }
}

http_response api::error_response(errc code, const std::string& message) {
    return json_response(status_of(code), bj::object{{"error", to_string(code)}, {"message", message}});
}

auth::claims api::authenticate(std::string_view token) const { return ctx_.auth.verify(token); }

namespace {

/// The claims of the request, checked against the app of the route.
auth::claims authorize(const api& a, const http_request& request, const std::string& app) {
    std::string token = bearer(request.authorization);
    if (token.empty()) throw auth::auth_error(errc::unauthorized, "missing 'Authorization: Bearer <token>'");
    auto claims = a.authenticate(token);
    if (claims.app != app) fail(errc::forbidden, "token is for app '" + claims.app + "', not '" + app + "'");
    return claims;
}

void check_owner(const config::app_config& app, const std::string& model, const bj::object& doc, const auth::claims& who) {
    if (app.access_of(model) == access::owner && doc.at("owner").as_string() != who.user)
        fail(errc::forbidden, "document belongs to another user");
}

const config::app_config& app_of(context& ctx, const std::string& name) {
    const auto* app = ctx.auth.app(name);
    if (app == nullptr) fail(errc::not_found, "unknown app '" + name + "'");
    return *app;
}

}  // namespace

bj::object api::subscribe(const auth::claims& who, const bj::value& request) {
    const auto* r = request.if_object();
    if (r == nullptr) fail(errc::invalid_input, "a subscription must be an object {model, id?, user?, filter?}");
    auto text = [&](const char* key, bool required) -> std::optional<std::string> {
        const auto* v = r->if_contains(key);
        if (v == nullptr || v->is_null()) {
            if (required) fail(errc::invalid_input, std::string("subscription needs '") + key + "'");
            return std::nullopt;
        }
        if (!v->is_string() || v->get_string().empty())
            fail(errc::invalid_input, std::string("subscription '") + key + "' must be a non-empty string");
        return std::string(v->get_string());
    };
    for (const auto& member : *r) {
        if (member.key() != "model" && member.key() != "id" && member.key() != "user" && member.key() != "filter")
            fail(errc::invalid_input, "unknown subscription field '" + std::string(member.key()) + "'");
    }
    channel::channel ch{who.app, *text("model", true), text("user", false), text("id", false)};
    const auto& app = app_of(ctx_, who.app);
    if (app.access_of(ch.model) == access::owner && ch.user != who.user)
        fail(errc::forbidden, "model '" + ch.model + "' is owner-only: subscribe with \"user\": \"" + who.user + "\"");
    bj::value filter_source = nullptr;
    std::optional<json::filter> filter;
    if (const auto* f = r->if_contains("filter"); f && !f->is_null()) {
        filter_source = *f;
        filter = json::filter::compile(*f);
        ch.filter = channel::filter_id(*f);  // a filtered subscription is a channel of its own
    }
    std::string name = ch.to_string();
    ctx_.registry.subscribe({who.device, who.app, who.user, name, filter_source}, filter,
                            ctx_.config.limits.subscriptions_per_device);
    store::find_options options;
    options.filter = filter ? &*filter : nullptr;
    options.owner = ch.user;
    options.id = ch.id;
    options.limit = 1000;
    bj::array items;
    for (auto& doc : ctx_.store.find(who.app, ch.model, options)) items.push_back(std::move(doc));
    return bj::object{{"channel", name}, {"items", std::move(items)}};
}

bool api::unsubscribe(const auth::claims& who, const std::string& name) {
    auto ch = channel::channel::parse(name);
    if (ch.app != who.app) fail(errc::forbidden, "channel '" + name + "' is not in app '" + who.app + "'");
    return ctx_.registry.unsubscribe(who.device, name);
}

namespace {

/// Throws 405 unless the request's method is one of `methods`.
void only(const http_request& request, std::initializer_list<const char*> methods) {
    for (const char* allowed : methods) {
        if (request.method == allowed) return;
    }
    fail(errc::method_not_allowed, "method " + request.method + " is not allowed on " + request.target);
}

/// A new write request for the document, stamped with a fresh op, the actor and the time.
store::write_request new_change(store::write_request::kind kind, const std::string& app, const std::string& model,
                                const std::string& id, const auth::claims& who) {
    store::write_request change;
    change.op = make_ulid();
    change.type = kind;
    change.app = app;
    change.model = model;
    change.id = id;
    change.actor = who.user;
    change.owner = kind == store::write_request::kind::create ? who.user : std::string();
    change.ts = now_ms();
    return change;
}

}  // namespace

api::api(context& ctx, scheduler schedule)
    : ctx_(ctx), schedule_(std::move(schedule)), pool_(blocking_threads), writes_(boost::asio::make_strand(pool_.get_executor())) {}

api::~api() { stop(); }

void api::offload(std::function<void()> work) {
    {
        std::lock_guard lock(pool_mutex_);
        if (!stopped_) {
            boost::asio::post(pool_, std::move(work));
            return;
        }
    }
    work();
}

void api::stop() {
    {
        std::lock_guard lock(pool_mutex_);
        if (stopped_) return;
        stopped_ = true;
    }
    pool_.join();  // without stop(): returns once the queued work is done
}

template <class Executor>
void api::off_loop(const Executor& executor, std::shared_ptr<const http_request> request,
                   std::function<void(http_response)> respond, std::function<void()> route) {
    auto work = [request = std::move(request), respond = std::move(respond), route = std::move(route)] {
        try {
            route();
        } catch (const error& e) {
            respond(error_response(e.kind(), e.what()));
        } catch (const callout::hook_refusal& e) {
            respond(refusal_response(e));
        } catch (const std::exception& e) {
            spdlog::error("api: {} {}: {}", request->method, request->target, e.what());
            respond(error_response(errc::internal, e.what()));
        } catch (...) {
            spdlog::error("api: {} {}: unknown exception", request->method, request->target);
            respond(error_response(errc::internal, "unknown exception"));
        }
    };
    {
        std::lock_guard lock(pool_mutex_);
        if (!stopped_) {
            boost::asio::post(executor, std::move(work));
            return;
        }
    }
    work();
}

void api::handle(http_request in, std::function<void(http_response)> respond) {
    auto request = std::make_shared<const http_request>(std::move(in));
    const auto pool = pool_.get_executor();
    try {
        auto t = parse_target(request->target);
        const auto& s = t.segments;
        if (!s.empty() && s[0] == "ui" && s.size() <= 2) {
            // The live page (DESIGN.md §11): open like /metrics, each process showing its own view.
            only(*request, {"GET"});
            if (s.size() == 1) return respond(http_response{200, std::string(ui_page()), "text/html; charset=utf-8"});
            if (s[1] != "state") fail(errc::not_found, "no route for " + request->target);
            return off_loop(pool, request, respond, [this, respond] { respond(json_response(200, ui_state())); });
        }
        if (s.size() == 1 && (s[0] == "healthz" || s[0] == "metrics")) {
            only(*request, {"GET"});
            if (s[0] == "metrics") return respond(http_response{200, ctx_.metrics.scrape(), "text/plain; version=0.0.4"});
            return off_loop(pool, request, respond, [this, respond] { respond(health()); });
        }
        if (!ctx_.serves.api) fail(errc::not_found, "no route for " + request->target + " (this process serves devices: the API is `sluice api`)");
        if (s.size() == 2 && s[0] == "v1" && s[1] == "logout") {
            only(*request, {"POST"});
            return off_loop(pool, request, respond, [this, request, respond] { respond(logout(*request)); });
        }
        if (s.size() < 4 || s[0] != "v1" || s[1] != "apps") fail(errc::not_found, "no route for " + request->target);
        const std::string& app = s[2];
        auto who = authorize(*this, *request, app);
        if (s[3] == "subscriptions" && s.size() == 4) {
            only(*request, {"POST"});
            auto body = parse_body(request->body, "subscription");
            return off_loop(pool, request, respond, [this, who, body = std::move(body), respond] {
                respond(json_response(200, subscribe(who, body)));
            });
        }
        if (s[3] == "subscriptions" && s.size() == 5) {
            only(*request, {"DELETE"});
            return off_loop(pool, request, respond, [this, who, t, respond] {
                const auto& s = t.segments;
                // Channel names carry their own escapes (%3A, %25): accept them URL-encoded or as they are.
                std::string channel = s[4];
                bool removed = false;
                if (t.raw[4] != channel) {
                    try {
                        removed = unsubscribe(who, channel);
                    } catch (const invalid_input&) {  // the decoded form is not a channel: try the raw one
                    }
                    if (!removed) channel = t.raw[4];
                }
                if (!removed && !unsubscribe(who, channel)) fail(errc::not_found, "device has no subscription on '" + s[4] + "'");
                respond(json_response(200, bj::object{{"channel", channel}, {"removed", true}}));
            });
        }
        if (s[3] == "devices" && s.size() == 5 && s[4] == "mqtt") {
            only(*request, {"POST"});
            if (!ctx_.mqtt_credentials) fail(errc::not_found, "MQTT devices are not served here: configure [transports.mqtt]");
            return off_loop(pool, request, respond, [this, who, respond] { respond(json_response(200, ctx_.mqtt_credentials(who.app, who.device))); });
        }
        if (s[3] == "reconcilers" && s.size() == 5) {
            only(*request, {"GET"});
            return off_loop(pool, request, respond, [this, app, name = s[4], respond] {
                respond(json_response(200, reconcile::status(ctx_.config, ctx_.store, app, name)));
            });
        }
        if (s[3] != "models" || s.size() < 5 || s.size() > 6) fail(errc::not_found, "no route for " + request->target);
        const std::string& model = s[4];
        if (s.size() == 5) {
            only(*request, {"POST"});
            auto commit = [this, app, model, who, wait = t.wait, respond](std::shared_ptr<const http_request> r) {
                off_loop(writes_, r, respond, [this, app, model, who, r, wait, respond] { create(app, model, who, *r, wait, respond); });
            };
            if (!ctx_.hooks.has(app, model, "before:create")) return commit(request);
            // Hooks run on the pool, so that a slow one holds back no other write.
            return off_loop(pool, request, respond, [this, app, model, who, request, commit] {
                commit(before_write("before:create", app, model, nullptr, who, *request));
            });
        }
        if (s[5] == "query" && request->method == "POST") {
            return off_loop(pool, request, respond, [this, app, model, who, request, respond] {
                respond(query(app, model, who, *request));
            });
        }
        only(*request, {"GET", "PUT", "PATCH", "DELETE"});
        auto route = [this, app, model, id = s[5], who, wait = t.wait, respond](std::shared_ptr<const http_request> r) {
            return [this, app, model, id, who, r, wait, respond] { document(app, model, id, who, *r, wait, respond); };
        };
        // Reads go to the pool; writes check the stored document one at a time, in arrival order,
        // as the event loop did (two creates of one id: the second sees the first pending).
        if (request->method == "GET") return off_loop(pool, request, respond, route(request));
        const char* point = request->method == "PUT" ? "before:update" : request->method == "PATCH" ? "before:patch" : "before:remove";
        if (!ctx_.hooks.has(app, model, point)) return off_loop(writes_, request, respond, route(request));
        return off_loop(pool, request, respond, [this, app, model, id = s[5], who, request, point, route, respond] {
            auto r = before_write(point, app, model, &id, who, *request);
            off_loop(writes_, r, respond, route(r));
        });
    } catch (const error& e) {
        respond(error_response(e.kind(), e.what()));
    } catch (const callout::hook_refusal& e) {
        respond(refusal_response(e));
    } catch (const std::exception& e) {
        spdlog::error("api: {} {}: {}", request->method, request->target, e.what());
        respond(error_response(errc::internal, e.what()));
    }
}

http_response api::health() {
    auto problems = ctx_.health.problems();
    if (!ctx_.store.healthy()) problems.emplace("store", "cannot read the store");
    if (auto q = ctx_.queue.problem()) problems.emplace("queue", *q);
    bj::object queues;
    for (const auto& [name, stage] : ctx_.config.graph.stages) {
        auto st = ctx_.queue.stats(name);
        queues[name] = bj::object{{"ready", st.ready}, {"in_flight", st.in_flight}, {"dead", st.dead}};
    }
    bj::object problem_list;
    for (const auto& [component, what] : problems) problem_list[component] = what;
    const bool ok = problems.empty();
    bj::object body{{"status", ok ? "ok" : "degraded"},
                    {"store", problems.count("store") ? "unavailable" : "ok"},
                    {"queue", bj::object{{"status", problems.count("queue") ? "unavailable" : "ok"}, {"queues", std::move(queues)}}},
                    {"registry", bj::object{{"subscriptions", ctx_.registry.size()}}}};
    if (ctx_.mqtt_credentials) body["mqtt"] = problems.count("mqtt") ? "unavailable" : "ok";
    if (!ok) body["problems"] = std::move(problem_list);
    return json_response(ok ? 200 : 503, body);
}

namespace {

const char* kind_name(const config::stage_config& st) {
    if (st.listener) return "listener";
    switch (st.kind) {
        case config::stage_kind::exec: return "exec";
        case config::stage_kind::webhook: return "webhook";
        case config::stage_kind::cpp: return "cpp";
        case config::stage_kind::builtin: break;
    }
    return "builtin";
}

bj::array string_array(const std::vector<std::string>& items) {
    bj::array a;
    for (const auto& i : items) a.push_back(bj::value(i));
    return a;
}

}  // namespace

bj::object api::ui_state() {
    bj::array stages;
    for (const auto& [name, st] : ctx_.config.graph.stages) {
        auto q = ctx_.queue.stats(name);
        auto& m = ctx_.metrics.stage(name);
        bj::object stage{{"name", name},
                         {"kind", kind_name(st)},
                         {"next", string_array(st.next)},
                         {"ready", q.ready},
                         {"in_flight", q.in_flight},
                         {"dead", q.dead},
                         {"consumed", m.consumed.Value()},
                         {"acked", m.acked.Value()},
                         {"retried", m.retried.Value()},
                         {"dead_lettered", m.dead_lettered.Value()}};
        if (!st.transports.empty()) {
            bj::object transports;
            for (const auto& [transport, target] : st.transports) transports[transport] = target;
            stage["transports"] = std::move(transports);
        }
        stages.push_back(std::move(stage));
    }
    bj::object transports;
    for (const char* name : {"websocket", "mqtt"}) {
        if (std::string_view(name) == "mqtt" && !ctx_.mqtt_credentials) continue;
        auto& t = ctx_.metrics.transport(name);
        transports[name] = bj::object{{"connections", t.connections.Value()}, {"sent", t.sent.Value()}, {"dropped", t.dropped.Value()}};
    }
    bj::array deliveries;
    auto recent = ctx_.metrics.recent_deliveries();
    for (auto it = recent.rbegin(); it != recent.rend(); ++it) {
        deliveries.push_back(bj::object{{"at", it->at_ms}, {"event", it->event}, {"app", it->app}, {"model", it->model},
                                        {"id", it->id},    {"op", it->op},       {"devices", it->devices}});
    }
    return bj::object{
        {"now", now_ms()},
        {"api_next", string_array(ctx_.config.graph.api_next)},
        {"stages", std::move(stages)},
        {"transports", std::move(transports)},
        {"deliveries", std::move(deliveries)}};
}

http_response api::logout(const http_request& request) {
    std::string token = bearer(request.authorization);
    if (token.empty()) throw auth::auth_error(errc::unauthorized, "missing 'Authorization: Bearer <token>'");
    auto who = authenticate(token);
    ctx_.hub.close_device(who.device, 4001, "logged out");
    ctx_.registry.forget_device(who.device);
    return json_response(200, bj::object{{"device", who.device}, {"logged_out", true}});
}

void api::refuse_system_fields(const bj::object& document) {
    for (const auto& member : document) {
        if (store::is_system_field(member.key()))
            fail(errc::invalid_input, "'" + std::string(member.key()) + "' is set by Sluice and cannot be written");
    }
}

void api::check_schema(const std::string& app, const std::string& model, const std::string& id, const bj::object& fields) const {
    if (const auto* schema = ctx_.schemas.find(app, model)) schema->check(fields, "document '" + id + "'");
}

void api::create(const std::string& app, const std::string& model, const auth::claims& who, const http_request& request,
                 bool wait, const std::function<void(http_response)>& respond) {
    auto body = parse_body(request.body, "document");
    if (!body.is_object()) fail(errc::invalid_input, "a document must be a JSON object");
    auto change = new_change(store::write_request::kind::create, app, model, {}, who);
    change.body = std::move(body.as_object());
    if (const auto* id = change.body.if_contains("id")) {
        if (!id->is_string() || id->get_string().empty()) fail(errc::invalid_input, "'id' must be a non-empty string");
        change.id = id->get_string();
        change.body.erase("id");
    } else {
        change.id = make_ulid();
    }
    refuse_system_fields(change.body);
    check_schema(app, model, change.id, change.body);
    if (ctx_.waiters.has_pending_writes(pipeline::waiters::document_key(app, model, change.id)) ||
        ctx_.store.get(app, model, change.id))
        fail(errc::conflict, "document '" + change.id + "' already exists");
    submit(std::move(change), wait, 201, respond);
}

std::shared_ptr<const http_request> api::before_write(std::string_view point, const std::string& app, const std::string& model,
                                                     const std::string* id, const auth::claims& who, const http_request& request) {
    if (point == "before:remove") {
        ctx_.hooks.run(point, hook_request(app, model, id, who), {}, nullptr);
        return std::make_shared<const http_request>(request);
    }
    if (point == "before:patch") {
        auto patch = json::patch::parse(parse_body(request.body, "patch")).to_json();  // the seed's form as RFC 6902
        return with_body(request, ctx_.hooks.run(point, hook_request(app, model, id, who), "patch", std::move(patch)));
    }
    auto body = parse_body(request.body, "document");
    if (!body.is_object()) fail(errc::invalid_input, "a document must be a JSON object");
    auto& doc = body.as_object();
    // The hooks see the document's id (a create without one gets it now) and its fields without it.
    std::string doc_id = id ? *id : make_ulid();
    if (const auto* given = doc.if_contains("id")) {
        if (!given->is_string() || given->get_string().empty()) fail(errc::invalid_input, "'id' must be a non-empty string");
        if (id && given->get_string() != *id) fail(errc::invalid_input, "'id' in the document must be the id of its URL, '" + *id + "'");
        doc_id = given->get_string();
        doc.erase("id");
    }
    auto data = ctx_.hooks.run(point, hook_request(app, model, &doc_id, who), "data", std::move(body));
    data.as_object()["id"] = doc_id;
    return with_body(request, data);
}

http_response api::query(const std::string& app, const std::string& model, const auth::claims& who,
                         const http_request& request) {
    auto body = request.body.empty() ? bj::value(bj::object{}) : parse_body(request.body, "query");
    if (!body.is_object()) fail(errc::invalid_input, "a query must be an object {filter, sort, limit, offset}");
    if (ctx_.hooks.has(app, model, "before:find")) body = ctx_.hooks.run("before:find", hook_request(app, model, nullptr, who), "query", std::move(body));
    const auto& q = body.as_object();
    std::optional<json::filter> filter;
    if (const auto* f = q.if_contains("filter"); f && !f->is_null()) filter = json::filter::compile(*f);
    store::find_options options;
    options.filter = filter ? &*filter : nullptr;
    if (app_of(ctx_, app).access_of(model) == access::owner) options.owner = who.user;
    if (const auto* sort = q.if_contains("sort"); sort && !sort->is_null()) {
        if (!sort->is_object()) fail(errc::invalid_input, "'sort' must be an object {field: 1 | -1}");
        for (const auto& [field, dir] : sort->get_object()) {
            if (!dir.is_number() || (json::number_of(dir) != 1 && json::number_of(dir) != -1))
                fail(errc::invalid_input, "sort direction of '" + std::string(field) + "' must be 1 or -1");
            json::field_path check(field);  // throws on a malformed path
            options.sort.emplace_back(std::string(field), json::number_of(dir) > 0 ? 1 : -1);
        }
    }
    auto count = [&](const char* key, std::size_t fallback, std::size_t max) -> std::size_t {
        const auto* v = q.if_contains(key);
        if (v == nullptr || v->is_null()) return fallback;
        if (!v->is_int64() || v->get_int64() < 0 || static_cast<std::size_t>(v->get_int64()) > max)
            fail(errc::invalid_input, std::string("'") + key + "' must be an integer from 0 to " + std::to_string(max));
        return static_cast<std::size_t>(v->get_int64());
    };
    options.limit = count("limit", 100, 10000);
    options.offset = count("offset", 0, SIZE_MAX / 2);
    bj::array items;
    for (auto& doc : ctx_.store.find(app, model, options)) items.push_back(std::move(doc));
    bj::value result = bj::object{{"items", std::move(items)}};
    if (ctx_.hooks.has(app, model, "after:find")) result = ctx_.hooks.run("after:find", hook_request(app, model, nullptr, who), "result", std::move(result));
    return json_response(200, result);
}

void api::document(const std::string& app_name, const std::string& model, const std::string& id, const auth::claims& who,
                   const http_request& request, bool wait, const std::function<void(http_response)>& respond) {
    const auto& app = app_of(ctx_, app_name);
    const bool get = request.method == "GET";
    if (get && ctx_.hooks.has(app_name, model, "before:get")) ctx_.hooks.run("before:get", hook_request(app_name, model, &id, who), {}, nullptr);
    // With changes to this document still queued, the stored version is not the one the change
    // will meet: the writer checks it then (a failure is dead-lettered, a waiter told why). An API
    // process of the distributed shape cannot know what the others queued: the writer checks.
    const bool queued = !ctx_.serves.writer_here ||
                        ctx_.waiters.has_pending_writes(pipeline::waiters::document_key(app_name, model, id));
    auto current = ctx_.store.get(app_name, model, id);
    if (!current && (!queued || get)) fail(errc::not_found, "document '" + id + "' does not exist");
    if (current) check_owner(app, model, *current, who);
    if (get) {
        if (!ctx_.hooks.has(app_name, model, "after:get")) return respond(json_response(200, *current));
        return respond(json_response(200, ctx_.hooks.run("after:get", hook_request(app_name, model, &id, who), "result", std::move(*current))));
    }
    if (request.method == "DELETE") {
        auto change = new_change(store::write_request::kind::remove, app_name, model, id, who);
        if (current) change.owner = current->at("owner").as_string();
        return submit(std::move(change), wait, 200, respond);
    }
    if (request.method == "PUT") {
        auto body = parse_body(request.body, "document");
        if (!body.is_object()) fail(errc::invalid_input, "a document must be a JSON object");
        auto& doc = body.as_object();
        if (const auto* given = doc.if_contains("id")) {
            if (!given->is_string() || given->get_string() != id)
                fail(errc::invalid_input, "'id' in the document must be the id of its URL, '" + id + "'");
            doc.erase("id");
        }
        refuse_system_fields(doc);
        check_schema(app_name, model, id, doc);
        auto change = new_change(store::write_request::kind::replace, app_name, model, id, who);
        if (current) change.owner = current->at("owner").as_string();
        change.body = std::move(doc);
        return submit(std::move(change), wait, 200, respond);
    }
    auto patch = json::patch::parse(parse_body(request.body, "patch"));
    for (const auto& op : patch.operations()) {
        for (const auto* p : {&op.path, &op.from}) {
            if (!p->tokens().empty() && store::is_system_field(p->tokens().front()))
                throw json::patch_error(op.source_index, "operation " + std::to_string(op.source_index) + ": '" +
                                                             p->tokens().front() + "' is set by Sluice and cannot be patched");
        }
    }
    if (current && !queued) {
        auto doc = store::patched(*current, patch);  // 422 naming the operation when it cannot apply now
        check_schema(app_name, model, id, store::client_fields(doc));
    }
    auto change = new_change(store::write_request::kind::update, app_name, model, id, who);
    if (current) change.owner = current->at("owner").as_string();
    change.patch = patch.to_json();
    submit(std::move(change), wait, 200, respond);
}

void api::poll_recorded(std::string op, std::chrono::steady_clock::time_point deadline, std::chrono::milliseconds delay) {
    // The writer is another process: its verdict is in the store once its transaction committed.
    // Polled with a growing delay (2 ms to 100 ms); the `?wait=1` timeout ends it in any case.
    schedule_(delay, [this, op = std::move(op), deadline, delay]() mutable {
        offload([this, op = std::move(op), deadline, delay]() mutable {
            std::optional<store::store::recorded> verdict;
            try {
                verdict = ctx_.store.recorded_outcome(op);
            } catch (const std::exception&) {  // the store is down: the timeout answers
            }
            if (verdict && verdict->envelope) {
                const auto& after = verdict->envelope->at("after");
                return ctx_.waiters.complete(op, after.is_object() ? &after.get_object() : nullptr, nullptr);
            }
            if (verdict) return ctx_.waiters.complete(op, nullptr, std::make_exception_ptr(error(verdict->failure, verdict->message)));
            if (std::chrono::steady_clock::now() + delay >= deadline) return ctx_.waiters.abandon(op, nullptr);
            poll_recorded(std::move(op), deadline, std::min<std::chrono::milliseconds>(delay * 2, std::chrono::milliseconds(100)));
        });
    });
}

void api::submit(store::write_request change, bool wait, unsigned wait_status, std::function<void(http_response)> respond) {
    // Back-pressure: past the configured depth the API refuses rather than growing the queue.
    for (const auto& stage : ctx_.config.graph.api_next) {
        auto depth = ctx_.queue.stats(stage).ready;
        if (depth >= ctx_.config.limits.max_queue_depth)
            fail(errc::overloaded, "queue '" + stage + "' holds " + std::to_string(depth) +
                                       " messages (limits.max_queue_depth): try again later");
    }
    auto op = change.op;
    auto id = change.id;
    auto kind = change.type;
    auto accepted = json_response(202, bj::object{{"id", id}, {"op", op}});
    auto key = change.key();
    // Pending writes are known in the process that runs the writer (it settles them); an API
    // process of the distributed shape tracks only the ones a `?wait=1` polls for.
    if (ctx_.serves.writer_here || wait) ctx_.waiters.begin_write(op, key);
    // The waiter, the durability callback and the timeout race; the first to answer wins.
    struct state {
        std::atomic<bool> answered{false};
        std::atomic<bool> durable{false};
    };
    auto st = std::make_shared<state>();
    auto answer = [st, respond](http_response r) {
        if (!st->answered.exchange(true)) respond(std::move(r));
    };
    if (wait) {
        ctx_.waiters.expect(op, [answer, accepted, wait_status, kind, id](bool applied, const bj::object* after, std::exception_ptr failure) {
            if (failure) return answer(failure_response(failure));
            if (!applied) return answer(accepted);  // consumed by a stage before the writer
            if (kind == store::write_request::kind::remove)
                return answer(json_response(wait_status, bj::object{{"id", id}, {"deleted", true}}));
            answer(json_response(wait_status, after ? bj::value(*after) : bj::value(nullptr)));
        });
    }
    std::string body = bj::serialize(change.to_json());
    std::vector<queue::outgoing> messages;
    for (const auto& stage : ctx_.config.graph.api_next) messages.push_back({stage, key, {op, 0}, body});
    ctx_.queue.publish(std::move(messages), [this, st, answer, wait, accepted, op, key](std::exception_ptr failure) {
        if (failure) {
            ctx_.waiters.cancel(op);
            ctx_.waiters.abandon(op, failure);
            return answer(failure_response(failure));
        }
        st->durable = true;
        if (!wait) return answer(accepted);
        if (!ctx_.serves.writer_here) poll_recorded(op, std::chrono::steady_clock::now() + ctx_.config.limits.wait_timeout,
                                                    std::chrono::milliseconds(2));
    });
    if (wait) {
        // Bounded wait: after the timeout the client learns the change is accepted (202) if it is
        // durable; if even that is not confirmed yet, it was not accepted (503).
        schedule_(ctx_.config.limits.wait_timeout, [this, st, answer, accepted, op] {
            ctx_.waiters.cancel(op);
            if (st->durable) return answer(accepted);
            answer(error_response(errc::unavailable, "the change could not be made durable within limits.wait_timeout_ms"));
        });
    }
}

}  // namespace sluice::net
