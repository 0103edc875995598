#include <sluice/auth/tokens.hpp>
#include <sluice/config/config.hpp>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace {

namespace fs = std::filesystem;

std::string write(const std::string& text) {
    auto path = fs::temp_directory_path() / ("sluice_config_" + std::to_string(::getpid()) + ".toml");
    std::ofstream(path) << text;
    return path.string();
}

std::string load_error(const std::string& text) {
    try {
        sluice::config::load(write(text));
    } catch (const sluice::config::config_error& e) {
        return e.what();
    }
    return "(loaded)";
}

TEST(Config, ReadsEveryKey) {
    auto c = sluice::config::load(write(R"(
listen = "0.0.0.0:9000"
data = "/tmp/x"
log_format = "json"
[limits]
max_body_bytes = 10
send_queue_bytes = 20
resume_backlog = 30
grace_period_seconds = 40
wait_timeout_ms = 50
[apps.shop]
secret = "0123456789abcdef0123"
[apps.shop.models.cart]
access = "owner"
)"));
    EXPECT_EQ(c.listen_endpoint(), (std::pair<std::string, std::uint16_t>{"0.0.0.0", 9000}));
    EXPECT_EQ(c.data_dir, "/tmp/x");
    EXPECT_EQ(c.limits.max_body_bytes, 10u);
    EXPECT_EQ(c.limits.grace_period, std::chrono::seconds(40));
    EXPECT_EQ(c.apps.at("shop").access_of("cart"), sluice::config::access::owner);
    EXPECT_EQ(c.apps.at("shop").access_of("other"), sluice::config::access::app);
}

TEST(Config, ErrorsNameTheKey) {
    EXPECT_NE(load_error("colour = 1").find("'colour'"), std::string::npos);
    EXPECT_NE(load_error("[limits]\nresume_backlog = 0").find("limits.resume_backlog"), std::string::npos);
    EXPECT_NE(load_error("log_format = \"xml\"").find("log_format"), std::string::npos);
    EXPECT_NE(load_error("[apps.a]\nsecret = \"short\"").find("apps.a.secret"), std::string::npos);
    EXPECT_NE(load_error("[apps.a]\nsecret = \"0123456789abcdef0123\"\npublic_key = \"x\"").find("exactly one"), std::string::npos);
    EXPECT_NE(load_error("listen = \"nohost\"").find("listen"), std::string::npos);
}

TEST(Config, EnvironmentOverridesTheFile) {
    ::setenv("SLUICE_LIMITS_RESUME_BACKLOG", "7", 1);
    auto c = sluice::config::load(write("[limits]\nresume_backlog = 3"));
    EXPECT_EQ(c.limits.resume_backlog, 7u);
    ::setenv("SLUICE_LIMITS_RESUME_BACKLOG", "many", 1);
    EXPECT_THROW(sluice::config::load(""), sluice::config::config_error);
    ::unsetenv("SLUICE_LIMITS_RESUME_BACKLOG");
}

TEST(Config, SubscriptionsPerDevice) {
    EXPECT_EQ(sluice::config::load("").limits.subscriptions_per_device, 1000u);
    EXPECT_EQ(sluice::config::load(write("[limits]\nsubscriptions_per_device = 5")).limits.subscriptions_per_device, 5u);
    EXPECT_NE(load_error("[limits]\nsubscriptions_per_device = 0").find("limits.subscriptions_per_device"), std::string::npos);
    ::setenv("SLUICE_LIMITS_SUBSCRIPTIONS_PER_DEVICE", "7", 1);
    EXPECT_EQ(sluice::config::load(write("[limits]\nsubscriptions_per_device = 5")).limits.subscriptions_per_device, 7u);
    ::setenv("SLUICE_LIMITS_SUBSCRIPTIONS_PER_DEVICE", "-1", 1);
    try {
        sluice::config::load("");
        ADD_FAILURE() << "a negative limit loaded";
    } catch (const sluice::config::config_error& e) {
        EXPECT_NE(std::string(e.what()).find("SLUICE_LIMITS_SUBSCRIPTIONS_PER_DEVICE"), std::string::npos) << e.what();
    }
    ::unsetenv("SLUICE_LIMITS_SUBSCRIPTIONS_PER_DEVICE");
}

TEST(Config, BackendsDefaultToTheEmbeddedShape) {
    auto c = sluice::config::load("");
    EXPECT_EQ(c.backends.queue, sluice::config::queue_kind::embedded);
    EXPECT_EQ(c.backends.store, sluice::config::store_kind::sqlite);
    EXPECT_EQ(c.backends.registry, sluice::config::registry_kind::embedded);
    EXPECT_EQ(c.backends.partitions, 1u);
}

TEST(Config, ReadsTheDistributedBackends) {
    auto c = sluice::config::load(write(R"(
[queue]
kind = "rabbitmq"
url = "amqp://guest:guest@127.0.0.1:5672/%2f"
partitions = 8
[store]
kind = "postgres"
url = "postgresql://sluice@127.0.0.1:5432/sluice"
[registry]
kind = "redis-cluster"
urls = ["redis://127.0.0.1:7001", "redis://127.0.0.1:7002"]
)"));
    EXPECT_EQ(c.backends.queue, sluice::config::queue_kind::rabbitmq);
    EXPECT_EQ(c.backends.queue_url, "amqp://guest:guest@127.0.0.1:5672/%2f");
    EXPECT_EQ(c.backends.partitions, 8u);
    EXPECT_EQ(c.backends.store, sluice::config::store_kind::postgres);
    EXPECT_EQ(c.backends.store_url, "postgresql://sluice@127.0.0.1:5432/sluice");
    EXPECT_EQ(c.backends.registry, sluice::config::registry_kind::redis_cluster);
    EXPECT_EQ(c.backends.registry_urls, (std::vector<std::string>{"redis://127.0.0.1:7001", "redis://127.0.0.1:7002"}));
}

TEST(Config, BackendErrorsNameTheKey) {
    EXPECT_NE(load_error("[queue]\nkind = \"kafka\"").find("'queue.kind'"), std::string::npos);
    EXPECT_NE(load_error("[queue]\nkind = \"rabbitmq\"").find("'queue.url'"), std::string::npos);
    EXPECT_NE(load_error("[queue]\nurl = \"http://x\"").find("'queue.url'"), std::string::npos);
    EXPECT_NE(load_error("[queue]\npartitions = 0").find("'queue.partitions'"), std::string::npos);
    EXPECT_NE(load_error("[queue]\ncolour = 1").find("'queue.colour'"), std::string::npos);
    EXPECT_NE(load_error("[store]\nkind = \"postgres\"").find("'store.url'"), std::string::npos);
    EXPECT_NE(load_error("[registry]\nkind = \"redis\"").find("'registry.url'"), std::string::npos);
    EXPECT_NE(load_error("[registry]\nkind = \"redis-cluster\"").find("'registry.urls'"), std::string::npos);
    EXPECT_NE(load_error("[registry]\nurls = [\"tcp://x\"]").find("'registry.urls'"), std::string::npos);
    EXPECT_NE(load_error("queue = 3").find("'queue'"), std::string::npos);
}

TEST(Config, EnvironmentChoosesTheBackends) {
    ::setenv("SLUICE_QUEUE_KIND", "rabbitmq", 1);
    ::setenv("SLUICE_QUEUE_URL", "amqp://guest:guest@127.0.0.1:5673/%2f", 1);
    ::setenv("SLUICE_STORE_KIND", "postgres", 1);
    ::setenv("SLUICE_STORE_URL", "postgresql://sluice@127.0.0.1:5433/sluice", 1);
    ::setenv("SLUICE_REGISTRY_KIND", "redis-cluster", 1);
    ::setenv("SLUICE_REGISTRY_URL", "redis://127.0.0.1:7001,redis://127.0.0.1:7002", 1);
    auto c = sluice::config::load(write("[queue]\nkind = \"embedded\"\n[store]\nkind = \"sqlite\""));
    for (const char* v : {"SLUICE_QUEUE_KIND", "SLUICE_QUEUE_URL", "SLUICE_STORE_KIND", "SLUICE_STORE_URL",
                          "SLUICE_REGISTRY_KIND", "SLUICE_REGISTRY_URL"})
        ::unsetenv(v);
    EXPECT_EQ(c.backends.queue, sluice::config::queue_kind::rabbitmq);
    EXPECT_EQ(c.backends.queue_url, "amqp://guest:guest@127.0.0.1:5673/%2f");
    EXPECT_EQ(c.backends.store, sluice::config::store_kind::postgres);
    EXPECT_EQ(c.backends.registry, sluice::config::registry_kind::redis_cluster);
    EXPECT_EQ(c.backends.registry_urls, (std::vector<std::string>{"redis://127.0.0.1:7001", "redis://127.0.0.1:7002"}));
}

TEST(Tokens, MintedTokensVerifyAndBindAppUserDevice) {
    std::map<std::string, sluice::config::app_config> apps;
    apps["a"] = {"a", "0123456789abcdef0123", {}, {}};
    apps["b"] = {"b", "fedcba98765432100123", {}, {}};
    sluice::auth::authenticator auth(apps);
    auto token = auth.mint("a", "alice", "phone", std::chrono::seconds(60));
    auto claims = auth.verify(token);
    EXPECT_EQ(claims.app, "a");
    EXPECT_EQ(claims.user, "alice");
    EXPECT_EQ(claims.device, "phone");
    // A token whose payload names app b but is signed with a's secret does not verify.
    auto forged = auth.mint("b", "alice", "phone", std::chrono::seconds(60));
    auto dot = forged.rfind('.');
    auto signature = token.substr(token.rfind('.'));
    EXPECT_THROW(auth.verify(forged.substr(0, dot) + signature), sluice::auth::auth_error);
    EXPECT_THROW(auth.verify(""), sluice::auth::auth_error);
    EXPECT_THROW(auth.mint("zzz", "u", "d", std::chrono::seconds(1)), sluice::config::config_error);
}

}  // namespace

namespace {

TEST(Config, ReadsHooksInOrder) {
    auto c = sluice::config::load(write(R"(
[apps.shop]
secret = "0123456789abcdef0123"
[[apps.shop.models.cart.hooks]]
on = ["before:create", "before:update"]
kind = "exec"
command = ["python3", "stamp.py"]
timeout_ms = 250
instances = 3
[[apps.shop.models.cart.hooks]]
on = ["after:get"]
kind = "webhook"
url = "http://127.0.0.1:9000/shape"
)"));
    const auto& hooks = c.apps.at("shop").models.at("cart").hooks;
    ASSERT_EQ(hooks.size(), 2u);
    EXPECT_EQ(hooks[0].on, (std::vector<std::string>{"before:create", "before:update"}));
    EXPECT_EQ(hooks[0].call.kind, sluice::config::stage_kind::exec);
    EXPECT_EQ(hooks[0].call.command, (std::vector<std::string>{"python3", "stamp.py"}));
    EXPECT_EQ(hooks[0].call.timeout, std::chrono::milliseconds(250));
    EXPECT_EQ(hooks[0].call.instances, 3u);
    EXPECT_EQ(hooks[1].call.kind, sluice::config::stage_kind::webhook);
    EXPECT_EQ(hooks[1].call.url, "http://127.0.0.1:9000/shape");
    EXPECT_EQ(hooks[1].call.timeout, std::chrono::milliseconds(5000)) << "the default";
}

TEST(Config, ReadsReconcilers) {
    auto c = sluice::config::load(write(R"(
[reconcilers.payments]
app = "demo"
model = "payment"
filter = { status = "pending" }
interval_seconds = 30
concurrency = 2
lease_seconds = 5
checks = [ { kind = "exec", command = ["true"] }, { name = "gateway", kind = "webhook", url = "http://127.0.0.1:9/c" } ]
fix = { kind = "cpp", function = "fix" }
)"));
    const auto& r = c.reconcilers.at("payments");
    EXPECT_EQ(r.app, "demo");
    EXPECT_EQ(r.model, "payment");
    EXPECT_EQ(boost::json::parse(r.filter), boost::json::parse(R"({"status":"pending"})"));
    EXPECT_EQ(r.interval, std::chrono::seconds(30));
    EXPECT_EQ(r.concurrency, 2u);
    EXPECT_EQ(r.lease, std::chrono::seconds(5));
    ASSERT_EQ(r.checks.size(), 2u);
    EXPECT_EQ(r.checks[0].name, "1") << "a check without a name is its position";
    EXPECT_EQ(r.checks[1].name, "gateway");
    ASSERT_TRUE(r.fix);
    EXPECT_EQ(r.fix->function, "fix");
}

TEST(Config, CorsOriginsAreCheckedAndLowerCased) {
    auto c = sluice::config::load(write("[http]\ncors_origins = [\"https://App.Example.com\", \"http://127.0.0.1:5173\", \"http://[::1]:8080\"]"));
    EXPECT_EQ(c.http.cors_origins, (std::vector<std::string>{"https://app.example.com", "http://127.0.0.1:5173", "http://[::1]:8080"}));
    EXPECT_EQ(sluice::config::load(write("[http]\ncors_origins = [\"*\"]")).http.cors_origins, (std::vector<std::string>{"*"}));
    EXPECT_TRUE(sluice::config::load("").http.cors_origins.empty());
    for (const char* bad : {"app.example.com", "https://app.example.com/", "https://app.example.com/path", "ws://x.example",
                            "https://x.example:0x1", "https://x.example:123456", "https://", "https://a b.example"}) {
        auto error = load_error(std::string("[http]\ncors_origins = [\"") + bad + "\"]");
        EXPECT_NE(error.find("http.cors_origins"), std::string::npos) << bad << ": " << error;
    }
    ::setenv("SLUICE_HTTP_CORS_ORIGINS", " https://a.example , http://localhost:3000 ", 1);
    EXPECT_EQ(sluice::config::load("").http.cors_origins, (std::vector<std::string>{"https://a.example", "http://localhost:3000"}));
    ::setenv("SLUICE_HTTP_CORS_ORIGINS", "nope", 1);
    EXPECT_THROW(sluice::config::load(""), sluice::config::config_error);
    ::unsetenv("SLUICE_HTTP_CORS_ORIGINS");
}

TEST(Config, MqttTransportNeedsItsBrokerAndAdministrator) {
    EXPECT_FALSE(sluice::config::load("").transports.mqtt);
    auto c = sluice::config::load(write("[transports.mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\nadmin_username = \"admin\"\nadmin_password = \"pw\"\n"));
    ASSERT_TRUE(c.transports.mqtt);
    EXPECT_EQ(c.transports.mqtt->url, "mqtt://127.0.0.1:1883");
    EXPECT_EQ(c.transports.mqtt->public_url, "mqtt://127.0.0.1:1883") << "devices are told the broker's url by default";
    EXPECT_EQ(c.transports.mqtt->admin_username, "admin");
    EXPECT_NE(load_error("[transports.mqtt]\nurl = \"http://x\"\nadmin_username = \"a\"\nadmin_password = \"b\"\n").find("transports.mqtt.url"), std::string::npos);
    EXPECT_NE(load_error("[transports.mqtt]\nurl = \"mqtt://x\"\n").find("transports.mqtt.admin_username"), std::string::npos);
    EXPECT_NE(load_error("[transports.mqtt]\nurl = \"mqtt://x\"\nadmin_username = \"a\"\nadmin_password = \"b\"\nqos = 2\n").find("transports.mqtt.qos"), std::string::npos);
    EXPECT_NE(load_error("[transports.amqp]\n").find("transports.amqp"), std::string::npos);
    ::setenv("SLUICE_TRANSPORTS_MQTT_URL", "mqtt://127.0.0.1:9999", 1);
    ::setenv("SLUICE_TRANSPORTS_MQTT_ADMIN_USERNAME", "admin", 1);
    ::setenv("SLUICE_TRANSPORTS_MQTT_ADMIN_PASSWORD", "secret", 1);
    auto from_env = sluice::config::load("");
    ::unsetenv("SLUICE_TRANSPORTS_MQTT_URL");
    ::unsetenv("SLUICE_TRANSPORTS_MQTT_ADMIN_USERNAME");
    ::unsetenv("SLUICE_TRANSPORTS_MQTT_ADMIN_PASSWORD");
    ASSERT_TRUE(from_env.transports.mqtt);
    EXPECT_EQ(from_env.transports.mqtt->url, "mqtt://127.0.0.1:9999");
    EXPECT_EQ(from_env.transports.mqtt->admin_password, "secret");
}

}  // namespace
