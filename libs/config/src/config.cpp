#include <sluice/config/config.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/json/filter.hpp>

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <unistd.h>

namespace sluice::config {

namespace {

[[noreturn]] void bad(const std::string& key, const std::string& why) { throw config_error("config key '" + key + "': " + why); }

std::string read_file(const std::string& path, const std::string& key) {
    std::ifstream in(path);
    if (!in) bad(key, "cannot read file " + path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string as_string(const toml::node& n, const std::string& key) {
    if (auto v = n.value<std::string>()) return *v;
    bad(key, "must be a string");
}

std::int64_t as_positive(const toml::node& n, const std::string& key) {
    auto v = n.value<std::int64_t>();
    if (!v || *v <= 0) bad(key, "must be a positive integer");
    return *v;
}

std::int64_t parse_positive(const std::string& text, const std::string& key) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v <= 0) bad(key, "must be a positive integer, got '" + text + "'");
    return v;
}

void check_choice(const std::string& value, std::initializer_list<const char*> choices, const std::string& key) {
    std::string list;
    for (const char* c : choices) {
        if (value == c) return;
        list += list.empty() ? c : std::string(", ") + c;
    }
    bad(key, "must be one of " + list + ", got '" + value + "'");
}

void check_scheme(const std::string& url, std::initializer_list<const char*> schemes, const std::string& key) {
    for (const char* scheme : schemes) {
        if (url.starts_with(scheme) && url.size() > std::string_view(scheme).size()) return;
    }
    bad(key, "must be a " + std::string(*schemes.begin()) + " URL, got '" + url + "'");
}

std::vector<std::string> string_list(const toml::node& n, const std::string& key, bool allow_empty);
std::vector<hook_config> read_hooks(const toml::node& n, const std::string& key);


/// `scheme://host[:port]` with scheme http or https, nothing after; or `*`.
void check_origin(const std::string& origin, const std::string& key) {
    if (origin == "*") return;
    auto bad_origin = [&] { bad(key, "'" + origin + "' is not an origin: scheme://host[:port], e.g. https://app.example.com"); };
    auto sep = origin.find("://");
    if (sep == std::string::npos) bad_origin();
    const auto scheme = origin.substr(0, sep);
    if (scheme != "http" && scheme != "https") bad_origin();
    auto rest = origin.substr(sep + 3);
    if (rest.empty() || rest.find_first_of("/?#@ ") != std::string::npos) bad_origin();
    auto colon = rest.rfind(':');
    if (rest.front() == '[') colon = rest.find("]:") == std::string::npos ? std::string::npos : rest.find("]:") + 1;
    const auto host = colon == std::string::npos ? rest : rest.substr(0, colon);
    if (host.empty()) bad_origin();
    if (colon != std::string::npos) {
        const auto port = rest.substr(colon + 1);
        if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
            std::stoi(port) > 65535)
            bad_origin();
    }
}

void set_cors_origins(config& c, std::vector<std::string> origins, const std::string& key) {
    for (auto& o : origins) {
        check_origin(o, key);
        std::transform(o.begin(), o.end(), o.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    }
    c.http.cors_origins = std::move(origins);
}

/// Sets one scalar key from its text form (environment) or its TOML node (file).
void set_scalar(config& c, const std::string& key, const toml::node* node, const std::string* text) {
    auto str = [&] { return node ? as_string(*node, key) : *text; };
    auto num = [&] { return node ? as_positive(*node, key) : parse_positive(*text, key); };
    if (key == "listen") {
        c.listen = str();
    } else if (key == "data") {
        c.data_dir = str();
    } else if (key == "log_format") {
        c.log_format = str();
        check_choice(c.log_format, {"text", "json"}, key);
    } else if (key == "log_level") {
        c.log_level = str();
        check_choice(c.log_level, {"trace", "debug", "info", "warn", "error"}, key);
    } else if (key == "limits.max_body_bytes") {
        c.limits.max_body_bytes = static_cast<std::size_t>(num());
    } else if (key == "limits.send_queue_bytes") {
        c.limits.send_queue_bytes = static_cast<std::size_t>(num());
    } else if (key == "limits.resume_backlog") {
        c.limits.resume_backlog = static_cast<std::size_t>(num());
    } else if (key == "limits.grace_period_seconds") {
        c.limits.grace_period = std::chrono::seconds(num());
    } else if (key == "limits.wait_timeout_ms") {
        c.limits.wait_timeout = std::chrono::milliseconds(num());
    } else if (key == "limits.max_hops") {
        c.limits.max_hops = static_cast<std::size_t>(num());
    } else if (key == "limits.max_queue_depth") {
        c.limits.max_queue_depth = static_cast<std::size_t>(num());
    } else if (key == "limits.subscriptions_per_device") {
        c.limits.subscriptions_per_device = static_cast<std::size_t>(num());
    } else if (key == "queue.kind") {
        auto kind = str();
        check_choice(kind, {"embedded", "rabbitmq"}, key);
        c.backends.queue = kind == "rabbitmq" ? queue_kind::rabbitmq : queue_kind::embedded;
    } else if (key == "queue.url") {
        c.backends.queue_url = str();
        check_scheme(c.backends.queue_url, {"amqp://"}, key);
    } else if (key == "queue.partitions") {
        c.backends.partitions = static_cast<std::size_t>(num());
        if (c.backends.partitions > 1024) bad(key, "must be at most 1024");
    } else if (key == "store.kind") {
        auto kind = str();
        check_choice(kind, {"sqlite", "postgres"}, key);
        c.backends.store = kind == "postgres" ? store_kind::postgres : store_kind::sqlite;
    } else if (key == "store.url") {
        c.backends.store_url = str();
        check_scheme(c.backends.store_url, {"postgresql://", "postgres://"}, key);
    } else if (key == "registry.kind") {
        auto kind = str();
        check_choice(kind, {"embedded", "redis", "redis-cluster"}, key);
        c.backends.registry = kind == "redis"           ? registry_kind::redis
                              : kind == "redis-cluster" ? registry_kind::redis_cluster
                                                        : registry_kind::embedded;
    } else if (key == "http.cors_origins") {
        // A list: from the environment, comma-separated.
        std::vector<std::string> origins;
        std::string all = str();
        for (std::size_t start = 0; start <= all.size();) {
            auto comma = std::min(all.find(',', start), all.size());
            auto origin = all.substr(start, comma - start);
            origin.erase(0, origin.find_first_not_of(' '));
            origin.erase(origin.find_last_not_of(' ') + 1);
            if (!origin.empty()) origins.push_back(origin);
            start = comma + 1;
        }
        set_cors_origins(c, std::move(origins), key);
    } else if (key.starts_with("transports.mqtt.")) {
        auto& m = c.transports.mqtt ? *c.transports.mqtt : c.transports.mqtt.emplace();
        auto name = key.substr(std::string_view("transports.mqtt.").size());
        if (name == "url" || name == "public_url") {
            (name == "url" ? m.url : m.public_url) = str();
            check_scheme(name == "url" ? m.url : m.public_url, {"mqtt://"}, key);
        } else if (name == "admin_username") {
            m.admin_username = str();
        } else if (name == "admin_password") {
            m.admin_password = str();
        } else {
            bad(key, "unknown key");
        }
    } else if (key == "registry.url") {
        // From the environment a cluster's seed nodes may be given as one comma-separated list.
        c.backends.registry_urls.clear();
        std::string all = str();
        for (std::size_t start = 0; start <= all.size();) {
            auto comma = std::min(all.find(',', start), all.size());
            auto url = all.substr(start, comma - start);
            if (!url.empty()) c.backends.registry_urls.push_back(url);
            start = comma + 1;
        }
        if (c.backends.registry_urls.empty()) bad(key, "must not be empty");
        for (const auto& url : c.backends.registry_urls) check_scheme(url, {"redis://"}, key);
    } else {
        bad(key, "unknown key");
    }
}

const char* const scalar_keys[] = {"listen", "data", "log_format", "log_level", "limits.max_body_bytes",
                                   "limits.send_queue_bytes", "limits.resume_backlog",
                                   "limits.grace_period_seconds", "limits.wait_timeout_ms", "limits.max_hops",
                                   "limits.max_queue_depth", "limits.subscriptions_per_device",
                                   "queue.kind", "queue.url", "queue.partitions", "store.kind", "store.url",
                                   "registry.kind", "registry.url", "http.cors_origins",
                                   "transports.mqtt.url", "transports.mqtt.public_url",
                                   "transports.mqtt.admin_username", "transports.mqtt.admin_password"};

/// `[queue]`, `[store]`, `[registry]`; `registry.urls` is the one list-valued key.
void read_backend_table(config& c, const std::string& section, const toml::node& node) {
    const auto* t = node.as_table();
    if (!t) bad(section, "must be a table");
    for (const auto& [k, v] : *t) {
        std::string key = section + "." + std::string(k.str());
        if (key == "registry.urls") {
            c.backends.registry_urls = string_list(v, key, false);
            for (const auto& url : c.backends.registry_urls) check_scheme(url, {"redis://"}, key);
        } else {
            set_scalar(c, key, &v, nullptr);
        }
    }
}

/// A backend other than the embedded one needs its address.
void check_backends(const backends_config& b) {
    if (b.queue == queue_kind::rabbitmq && b.queue_url.empty()) bad("queue.url", "kind = \"rabbitmq\" needs url = \"amqp://...\"");
    if (b.store == store_kind::postgres && b.store_url.empty()) bad("store.url", "kind = \"postgres\" needs url = \"postgresql://...\"");
    if (b.registry == registry_kind::redis && b.registry_urls.size() != 1)
        bad("registry.url", "kind = \"redis\" needs one url = \"redis://host:port\"");
    if (b.registry == registry_kind::redis_cluster && b.registry_urls.empty())
        bad("registry.urls", "kind = \"redis-cluster\" needs urls = [\"redis://host:port\", ...]");
}

void check_transports(transports_config& t) {
    if (!t.mqtt) return;
    auto& m = *t.mqtt;
    if (m.url.empty()) bad("transports.mqtt.url", "is required: mqtt://host:port of the broker");
    if (m.admin_username.empty()) bad("transports.mqtt.admin_username", "is required: the broker's dynamic-security administrator");
    if (m.admin_password.empty()) bad("transports.mqtt.admin_password", "is required");
    if (m.public_url.empty()) m.public_url = m.url;
}

app_config read_app(const std::string& name, const toml::table& t) {
    app_config app{name, {}, {}, {}};
    const std::string prefix = "apps." + name + ".";
    for (const auto& [k, v] : t) {
        std::string key = prefix + std::string(k.str());
        if (k == "secret") {
            app.secret = as_string(v, key);
            if (app.secret.size() < 16) bad(key, "must be at least 16 characters");
        } else if (k == "public_key") {
            app.public_key = as_string(v, key);
        } else if (k == "public_key_file") {
            app.public_key = read_file(as_string(v, key), key);
        } else if (k == "models") {
            const auto* models = v.as_table();
            if (!models) bad(key, "must be a table of models");
            for (const auto& [model, settings] : *models) {
                std::string model_key = key + "." + std::string(model.str());
                const auto* s = settings.as_table();
                if (!s) bad(model_key, "must be a table");
                auto& m = app.models[std::string(model.str())];
                for (const auto& [mk, mv] : *s) {
                    std::string setting_key = model_key + "." + std::string(mk.str());
                    if (mk == "access") {
                        auto a = as_string(mv, setting_key);
                        check_choice(a, {"app", "owner"}, setting_key);
                        m.who = a == "owner" ? access::owner : access::app;
                    } else if (mk == "hooks") {
                        m.hooks = read_hooks(mv, setting_key);
                    } else if (mk == "schema_file") {
                        m.schema_file = as_string(mv, setting_key);
                        if (m.schema_file.empty()) bad(setting_key, "must name a JSON Schema file");
                    } else {
                        bad(setting_key, "unknown key");
                    }
                }
            }
        } else {
            bad(key, "unknown key");
        }
    }
    if (app.secret.empty() == app.public_key.empty()) bad("apps." + name, "needs exactly one of secret, public_key, public_key_file");
    if (!app.public_key.empty() && app.public_key.find("-----BEGIN PUBLIC KEY-----") == std::string::npos)
        bad("apps." + name + ".public_key", "must be a PEM public key");
    return app;
}


std::vector<std::string> string_list(const toml::node& n, const std::string& key, bool allow_empty) {
    const auto* a = n.as_array();
    if (!a) bad(key, "must be an array of strings");
    std::vector<std::string> out;
    for (const auto& item : *a) out.push_back(as_string(item, key));
    if (!allow_empty && out.empty()) bad(key, "must not be empty");
    return out;
}

bool valid_stage_name(const std::string& name) {
    if (name.empty() || name.size() > 100) return false;
    for (char ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') return false;
    }
    return true;
}


/// A filter given as a TOML table, as JSON text; checked.
std::string filter_json(const toml::node& n, const std::string& key) {
    const auto* t = n.as_table();
    if (!t) bad(key, "must be a table, e.g. filter = { plan = \"pro\" }");
    std::ostringstream json;
    json << toml::json_formatter{*t};
    try {
        json::filter::compile(parse_json(json.str(), key));
    } catch (const error& e) {
        bad(key, e.what());
    }
    return json.str();
}

stage_kind parse_kind(const toml::node& n, const std::string& key) {
    auto kind = as_string(n, key);
    check_choice(kind, {"exec", "webhook", "cpp"}, key);
    return kind == "exec" ? stage_kind::exec : kind == "webhook" ? stage_kind::webhook : stage_kind::cpp;
}

std::string http_url(const toml::node& n, const std::string& key) {
    auto url = as_string(n, key);
    if (!url.starts_with("http://")) bad(key, "must be an http:// URL, got '" + url + "'");
    return url;
}

/// A callout's keys (kind, command, url, function, timeout_ms, instances); `other` is asked about
/// any other key and must take it or throw.
callout_config read_callout(const toml::table& t, const std::string& prefix,
                            const std::function<void(const toml::key&, const toml::node&, const std::string&)>& other) {
    callout_config c;
    bool kind_given = false;
    for (const auto& [k, v] : t) {
        std::string key = prefix + std::string(k.str());
        if (k == "kind") {
            c.kind = parse_kind(v, key);
            kind_given = true;
        } else if (k == "command") {
            c.command = string_list(v, key, false);
        } else if (k == "url") {
            c.url = http_url(v, key);
        } else if (k == "function") {
            c.function = as_string(v, key);
        } else if (k == "timeout_ms") {
            c.timeout = std::chrono::milliseconds(as_positive(v, key));
        } else if (k == "instances") {
            c.instances = static_cast<std::size_t>(as_positive(v, key));
        } else {
            other(k, v, key);
        }
    }
    if (!kind_given) bad(prefix + "kind", "needs kind = \"exec\" | \"webhook\" | \"cpp\"");
    if (c.kind == stage_kind::exec && c.command.empty()) bad(prefix + "command", "kind = \"exec\" needs command = [program, args...]");
    if (c.kind == stage_kind::webhook && c.url.empty()) bad(prefix + "url", "kind = \"webhook\" needs url = \"http://host/path\"");
    if (c.kind == stage_kind::cpp && c.function.empty()) bad(prefix + "function", "kind = \"cpp\" needs function = \"registered name\"");
    return c;
}

const char* const hook_points[] = {"before:create", "before:get", "before:find", "before:update", "before:patch", "before:remove",
                                   "after:create",  "after:get",  "after:find",  "after:update",  "after:patch",  "after:remove"};

std::vector<hook_config> read_hooks(const toml::node& n, const std::string& key) {
    const auto* a = n.as_array();
    if (!a) bad(key, "must be an array of tables: [[" + key + "]]");
    std::vector<hook_config> hooks;
    for (std::size_t i = 0; i < a->size(); ++i) {
        const std::string prefix = key + "[" + std::to_string(i) + "].";
        const auto* t = a->get(i)->as_table();
        if (!t) bad(key + "[" + std::to_string(i) + "]", "must be a table");
        hook_config h;
        h.call = read_callout(*t, prefix, [&](const toml::key& k, const toml::node& v, const std::string& hk) {
            if (k != "on") bad(hk, "unknown key");
            h.on = string_list(v, hk, false);
            for (const auto& point : h.on) {
                if (std::find_if(std::begin(hook_points), std::end(hook_points), [&](const char* p) { return point == p; }) == std::end(hook_points))
                    bad(hk, "'" + point + "' is not a hook point: before|after:create|get|find|update|patch|remove");
            }
        });
        if (h.on.empty()) bad(prefix + "on", "a hook needs on = [\"before:create\", ...]");
        hooks.push_back(std::move(h));
    }
    return hooks;
}

reconciler_config read_reconciler(const std::string& name, const toml::node& n) {
    const std::string prefix = "reconcilers." + name + ".";
    const auto* t = n.as_table();
    if (!t) bad("reconcilers." + name, "must be a table");
    if (!valid_stage_name(name)) bad("reconcilers." + name, "a reconciler name is letters, digits, '-', '_' or '.'");
    reconciler_config r;
    r.name = name;
    for (const auto& [k, v] : *t) {
        std::string key = prefix + std::string(k.str());
        if (k == "app") {
            r.app = as_string(v, key);
        } else if (k == "model") {
            r.model = as_string(v, key);
        } else if (k == "filter") {
            r.filter = filter_json(v, key);
        } else if (k == "interval_seconds") {
            r.interval = std::chrono::seconds(as_positive(v, key));
        } else if (k == "concurrency") {
            r.concurrency = static_cast<std::size_t>(as_positive(v, key));
        } else if (k == "lease_seconds") {
            r.lease = std::chrono::seconds(as_positive(v, key));
        } else if (k == "checks") {
            const auto* a = v.as_array();
            if (!a || a->empty()) bad(key, "must be a non-empty array of tables {kind, command | url | function}");
            for (std::size_t i = 0; i < a->size(); ++i) {
                const auto* ct = a->get(i)->as_table();
                std::string ckey = key + "[" + std::to_string(i) + "]";
                if (!ct) bad(ckey, "must be a table {kind, command | url | function}");
                std::string check_name = std::to_string(i + 1);
                r.checks.push_back(read_callout(*ct, ckey + ".", [&](const toml::key& ck, const toml::node& cv, const std::string& k2) {
                    if (ck != "name") bad(k2, "unknown key");
                    check_name = as_string(cv, k2);
                }));
                r.checks.back().name = check_name;
            }
        } else if (k == "fix") {
            const auto* ft = v.as_table();
            if (!ft) bad(key, "must be a table {kind, command | url | function}");
            r.fix = read_callout(*ft, key + ".", [](const toml::key&, const toml::node&, const std::string& k2) { bad(k2, "unknown key"); });
        } else {
            bad(key, "unknown key");
        }
    }
    if (r.app.empty()) bad(prefix + "app", "a reconciler needs app = \"...\"");
    if (r.model.empty()) bad(prefix + "model", "a reconciler needs model = \"...\"");
    if (r.checks.empty()) bad(prefix + "checks", "a reconciler needs checks = [{kind = ..., ...}]");
    return r;
}

void read_stage(stage_config& st, const toml::table& t, const std::string& prefix) {
    bool kind_given = false;
    for (const auto& [k, v] : t) {
        std::string key = prefix + std::string(k.str());
        if (k == "next" && st.listener) {
            bad(key, "a listener forwards nothing: its replies only settle the event");
        } else if (k == "next") {
            st.next = string_list(v, key, true);
        } else if (k == "instances") {
            st.instances = static_cast<std::size_t>(as_positive(v, key));
        } else if (k == "prefetch") {
            st.prefetch = static_cast<std::size_t>(as_positive(v, key));
        } else if (k == "max_attempts") {
            st.max_attempts = static_cast<std::size_t>(as_positive(v, key));
        } else if (k == "timeout_ms") {
            st.timeout = std::chrono::milliseconds(as_positive(v, key));
        } else if (k == "backoff_ms") {
            const auto* a = v.as_array();
            if (!a || a->size() != 2) bad(key, "must be [first, cap] in milliseconds");
            st.first_backoff = std::chrono::milliseconds(as_positive(*a->get(0), key));
            st.max_backoff = std::chrono::milliseconds(as_positive(*a->get(1), key));
            if (st.max_backoff < st.first_backoff) bad(key, "the cap must not be below the first delay");
        } else if (k == "on_failure") {
            auto policy = as_string(v, key);
            check_choice(policy, {"dead-letter", "drop", "continue"}, key);
            st.on_failure = policy == "drop" ? failure_policy::drop
                            : policy == "continue" ? failure_policy::forward
                                                   : failure_policy::dead_letter;
        } else if (k == "kind") {
            if (builtin::is_builtin(st.name)) bad(key, "'" + st.name + "' is a built-in stage: it has no kind");
            st.kind = parse_kind(v, key);
            kind_given = true;
        } else if (k == "command") {
            st.command = string_list(v, key, false);
        } else if (k == "url") {
            st.url = http_url(v, key);
        } else if (k == "function") {
            st.function = as_string(v, key);
        } else if (k == "transports") {
            if (st.name != builtin::transport_manager) bad(key, "only the transport-manager stage has transports");
            const auto* tt = v.as_table();
            if (!tt) bad(key, "must be a table {transport = \"stage\"}");
            for (const auto& [transport, target] : *tt) {
                std::string tkey = key + "." + std::string(transport.str());
                check_choice(std::string(transport.str()), {"websocket"}, tkey);
                st.transports[std::string(transport.str())] = as_string(target, tkey);
            }
        } else {
            bad(key, "unknown key");
        }
    }
    if (builtin::is_builtin(st.name)) return;
    if (!kind_given) bad(prefix + "kind", std::string(st.listener ? "a listener" : "a custom stage") + " needs kind = \"exec\" | \"webhook\" | \"cpp\"");
    if (st.kind == stage_kind::exec && st.command.empty()) bad(prefix + "command", "an exec stage needs command = [program, args...]");
    if (st.kind == stage_kind::webhook && st.url.empty()) bad(prefix + "url", "a webhook stage needs url = \"http://host/path\"");
    if (st.kind == stage_kind::cpp && st.function.empty()) st.function = st.name;
}

void add_builtin_stages(graph_config& g) {
    for (const auto* name : {&builtin::writer, &builtin::transport_manager, &builtin::websockets}) {
        if (g.stages.count(*name)) continue;
        stage_config st;
        st.name = *name;
        if (*name == builtin::writer) st.next = {builtin::transport_manager};
        g.stages[*name] = st;
    }
}

void read_graph(config& c, const toml::table& root) {
    auto& g = c.graph;
    if (const auto* api = root.get("api")) {
        const auto* t = api->as_table();
        if (!t) bad("api", "must be a table");
        for (const auto& [k, v] : *t) {
            std::string key = "api." + std::string(k.str());
            if (k != "next") bad(key, "unknown key");
            g.api_next = string_list(v, key, false);
        }
    }
    if (const auto* stages = root.get("stages")) {
        const auto* t = stages->as_table();
        if (!t) bad("stages", "must be a table of stages");
        for (const auto& [name, settings] : *t) {
            std::string stage(name.str());
            if (!valid_stage_name(stage)) bad("stages." + stage, "a stage name is letters, digits, '-', '_' or '.'");
            const auto* st = settings.as_table();
            if (!st) bad("stages." + stage, "must be a table");
            auto& sc = g.stages[stage];
            sc.name = stage;
            if (stage == builtin::writer) sc.next = {builtin::transport_manager};
            read_stage(sc, *st, "stages." + stage + ".");
        }
    }
    if (const auto* listeners = root.get("listeners")) {
        const auto* t = listeners->as_table();
        if (!t) bad("listeners", "must be a table of listeners");
        for (const auto& [name, settings] : *t) {
            std::string listener(name.str());
            const std::string prefix = "listeners." + listener + ".";
            if (!valid_stage_name(listener)) bad("listeners." + listener, "a listener name is letters, digits, '-', '_' or '.'");
            if (g.has(listener) || builtin::is_builtin(listener))
                bad("listeners." + listener, "a stage of that name exists: listeners and stages share one namespace");
            const auto* lt = settings.as_table();
            if (!lt) bad("listeners." + listener, "must be a table");
            listener_selection sel;
            toml::table stage_keys;
            for (const auto& [k, v] : *lt) {
                std::string key = prefix + std::string(k.str());
                if (k == "app") {
                    sel.app = as_string(v, key);
                } else if (k == "model") {
                    sel.model = as_string(v, key);
                } else if (k == "events") {
                    sel.events = string_list(v, key, false);
                    for (const auto& e : sel.events) check_choice(e, {"created", "updated", "patched", "removed"}, key);
                } else if (k == "filter") {
                    sel.filter = filter_json(v, key);
                } else {
                    stage_keys.insert(k, v);
                }
            }
            if (sel.app.empty()) bad(prefix + "app", "a listener needs app = \"...\"");
            if (sel.model.empty()) bad(prefix + "model", "a listener needs model = \"...\"");
            auto& sc = g.stages[listener];
            sc.name = listener;
            sc.listener = std::move(sel);
            read_stage(sc, stage_keys, prefix);
        }
    }
}

/// Every name refers to a stage; no cycle made only of built-in stages (it would never end).
void check_graph(graph_config& g) {
    add_builtin_stages(g);
    auto& tm = g.stages[builtin::transport_manager];
    if (!tm.transports.count("websocket")) tm.transports["websocket"] = builtin::websockets;
    auto check = [&](const std::string& key, const std::string& target) {
        if (!g.has(target)) bad(key, "unknown stage '" + target + "'");
    };
    for (const auto& n : g.api_next) check("api.next", n);
    std::map<std::string, std::vector<std::string>> builtin_edges;
    for (const auto& [name, st] : g.stages) {
        for (const auto& n : st.next) {
            check("stages." + name + ".next", n);
            if (builtin::is_builtin(name) && builtin::is_builtin(n)) builtin_edges[name].push_back(n);
        }
        for (const auto& [transport, target] : st.transports) {
            check("stages." + name + ".transports." + transport, target);
            if (builtin::is_builtin(target)) builtin_edges[name].push_back(target);
        }
    }
    // Depth-first search for a cycle among built-ins.
    std::map<std::string, int> state;  // 0 new, 1 on the path, 2 done
    std::vector<std::string> path;
    std::function<void(const std::string&)> visit = [&](const std::string& node) {
        state[node] = 1;
        path.push_back(node);
        for (const auto& n : builtin_edges[node]) {
            if (state[n] == 1) {
                std::string cycle;
                for (auto it = std::find(path.begin(), path.end(), n); it != path.end(); ++it) cycle += *it + " -> ";
                bad("stages." + node + (g.stages[node].transports.empty() ? ".next" : ".transports"),
                    "cycle of built-in stages " + cycle + n);
            }
            if (state[n] == 0) visit(n);
        }
        path.pop_back();
        state[node] = 2;
    };
    for (const auto& [name, edges] : builtin_edges) {
        if (state[name] == 0) visit(name);
    }
}

}  // namespace

bool builtin::is_builtin(const std::string& stage) noexcept {
    return stage == writer || stage == transport_manager || stage == websockets;
}

const stage_config& graph_config::stage(const std::string& name) const { return stages.at(name); }

std::pair<std::string, std::uint16_t> config::listen_endpoint() const {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0) bad("listen", "must be HOST:PORT, got '" + listen + "'");
    std::string port_text = listen.substr(colon + 1);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535)
        bad("listen", "bad port in '" + listen + "'");
    return {listen.substr(0, colon), static_cast<std::uint16_t>(port)};
}

config load(const std::string& path) {
    config c;
    if (!path.empty()) {
        toml::table root;
        try {
            root = toml::parse_file(path);
        } catch (const toml::parse_error& e) {
            std::ostringstream where;
            where << e.source().begin;
            throw config_error("config file " + path + ": " + std::string(e.description()) + " at " + where.str());
        }
        read_graph(c, root);
        for (const auto& [k, v] : root) {
            std::string key(k.str());
            if (key == "apps") {
                const auto* apps = v.as_table();
                if (!apps) bad(key, "must be a table of apps");
                for (const auto& [name, app] : *apps) {
                    const auto* t = app.as_table();
                    if (!t) bad("apps." + std::string(name.str()), "must be a table");
                    auto& app_config = c.apps[std::string(name.str())] = read_app(std::string(name.str()), *t);
                    // A schema file is found from the working directory, or else beside this file.
                    for (auto& [model, m] : app_config.models) {
                        auto beside = std::filesystem::path(path).parent_path() / m.schema_file;
                        if (!m.schema_file.empty() && std::filesystem::path(m.schema_file).is_relative() &&
                            !std::filesystem::exists(m.schema_file) && std::filesystem::exists(beside))
                            m.schema_file = beside.string();
                    }
                }
            } else if (key == "api" || key == "stages" || key == "listeners") {
                continue;  // the graph, read below
            } else if (key == "reconcilers") {
                const auto* t = v.as_table();
                if (!t) bad(key, "must be a table of reconcilers");
                for (const auto& [name, r] : *t) c.reconcilers[std::string(name.str())] = read_reconciler(std::string(name.str()), r);
            } else if (key == "queue" || key == "store" || key == "registry") {
                read_backend_table(c, key, v);
            } else if (key == "http") {
                const auto* http = v.as_table();
                if (!http) bad(key, "must be a table");
                for (const auto& [hk, hv] : *http) {
                    const std::string http_key = "http." + std::string(hk.str());
                    if (hk != "cors_origins") bad(http_key, "unknown key");
                    set_cors_origins(c, string_list(hv, http_key, true), http_key);
                }
            } else if (key == "transports") {
                const auto* transports = v.as_table();
                if (!transports) bad(key, "must be a table");
                for (const auto& [tk, tv] : *transports) {
                    const std::string transport_key = "transports." + std::string(tk.str());
                    if (tk != "mqtt") bad(transport_key, "unknown transport (WebSocket and SSE need no configuration)");
                    const auto* mqtt = tv.as_table();
                    if (!mqtt) bad(transport_key, "must be a table");
                    c.transports.mqtt.emplace();
                    for (const auto& [mk, mv] : *mqtt) set_scalar(c, transport_key + "." + std::string(mk.str()), &mv, nullptr);
                }
            } else if (key == "limits") {
                const auto* limits = v.as_table();
                if (!limits) bad(key, "must be a table");
                for (const auto& [lk, lv] : *limits) set_scalar(c, "limits." + std::string(lk.str()), &lv, nullptr);
            } else {
                set_scalar(c, key, &v, nullptr);
            }
        }
    }
    for (const char* key : scalar_keys) {
        std::string env = "SLUICE_";
        for (const char* p = key; *p; ++p) env += *p == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(*p)));
        if (const char* value = std::getenv(env.c_str())) {
            std::string text(value);
            try {
                set_scalar(c, key, nullptr, &text);
            } catch (const config_error& e) {
                throw config_error(std::string(e.what()) + " (from " + env + ")");
            }
        }
    }
    c.listen_endpoint();
    check_backends(c.backends);
    check_transports(c.transports);
    check_graph(c.graph);
    return c;
}

std::string demo_secret(const std::string& data_dir) {
    namespace fs = std::filesystem;
    fs::path file = fs::path(data_dir) / "demo.secret";
    if (fs::exists(file)) {
        std::ifstream in(file);
        std::string secret;
        std::getline(in, secret);
        if (secret.size() >= 16) return secret;
    }
    fs::create_directories(data_dir);
    std::random_device rd;
    static const char alphabet[] = "0123456789abcdef";
    std::string secret;
    for (int i = 0; i < 64; ++i) secret += alphabet[rd() % 16];
    // Processes of one deployment may start at once: each writes its own file and links it in
    // place; the first link wins and the others read the winner's secret.
    fs::path tmp = file;
    tmp += "." + std::to_string(::getpid()) + "." + std::to_string(rd()) + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << secret << "\n";
    }
    fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write);
    std::error_code linked;
    fs::create_hard_link(tmp, file, linked);
    fs::remove(tmp);
    if (!linked) return secret;
    std::ifstream in(file);
    std::getline(in, secret);
    if (secret.size() < 16) throw config_error("config key 'data': " + file.string() + " holds no usable secret");
    return secret;
}

}  // namespace sluice::config
