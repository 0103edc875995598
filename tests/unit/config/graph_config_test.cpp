#include <sluice/config/config.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using namespace sluice::config;

std::string write(const std::string& text) {
    auto path = fs::temp_directory_path() / ("sluice_graph_" + std::to_string(::getpid()) + ".toml");
    std::ofstream(path) << text;
    return path.string();
}

std::string load_error(const std::string& text) {
    try {
        load(write(text));
    } catch (const config_error& e) {
        return e.what();
    }
    return "(loaded)";
}

TEST(GraphConfig, WithoutConfigurationTheGraphIsTheSeedsChain) {
    auto c = load("");
    EXPECT_EQ(c.graph.api_next, std::vector<std::string>{"writer"});
    EXPECT_EQ(c.graph.stage("writer").next, std::vector<std::string>{"transport-manager"});
    EXPECT_TRUE(c.graph.stage("transport-manager").next.empty());
    EXPECT_EQ(c.graph.stage("transport-manager").transports.at("websocket"), "websockets-transport");
    EXPECT_EQ(c.graph.stages.size(), 3u);
    EXPECT_EQ(c.limits.max_hops, 32u);
}

TEST(GraphConfig, ReadsEveryStageKey) {
    auto c = load(write(R"(
[api]
next = ["validate"]
[limits]
max_hops = 7
[stages.validate]
kind = "exec"
command = ["python3", "v.py"]
next = ["writer"]
instances = 3
prefetch = 5
max_attempts = 4
backoff_ms = [10, 200]
on_failure = "continue"
timeout_ms = 1500
[stages.writer]
next = ["transport-manager", "audit"]
[stages.audit]
kind = "webhook"
url = "http://127.0.0.1:9000/audit"
on_failure = "drop"
[stages.shout]
kind = "cpp"
[stages.transport-manager.transports]
websocket = "format"
[stages.format]
kind = "cpp"
function = "formatter"
next = ["websockets-transport"]
)"));
    EXPECT_EQ(c.graph.api_next, std::vector<std::string>{"validate"});
    EXPECT_EQ(c.limits.max_hops, 7u);
    const auto& v = c.graph.stage("validate");
    EXPECT_EQ(v.kind, stage_kind::exec);
    EXPECT_EQ(v.command, (std::vector<std::string>{"python3", "v.py"}));
    EXPECT_EQ(v.instances, 3u);
    EXPECT_EQ(v.prefetch, 5u);
    EXPECT_EQ(v.max_attempts, 4u);
    EXPECT_EQ(v.first_backoff.count(), 10);
    EXPECT_EQ(v.max_backoff.count(), 200);
    EXPECT_EQ(v.on_failure, failure_policy::forward);
    EXPECT_EQ(v.timeout.count(), 1500);
    EXPECT_EQ(c.graph.stage("writer").next, (std::vector<std::string>{"transport-manager", "audit"}));
    EXPECT_EQ(c.graph.stage("audit").kind, stage_kind::webhook);
    EXPECT_EQ(c.graph.stage("audit").on_failure, failure_policy::drop);
    EXPECT_EQ(c.graph.stage("shout").function, "shout");
    EXPECT_EQ(c.graph.stage("format").function, "formatter");
    EXPECT_EQ(c.graph.stage("transport-manager").transports.at("websocket"), "format");
}

TEST(GraphConfig, UnknownStagesAreNamed) {
    EXPECT_EQ(load_error("[api]\nnext = [\"nope\"]"), "config key 'api.next': unknown stage 'nope'");
    EXPECT_EQ(load_error("[stages.writer]\nnext = [\"nope\"]"), "config key 'stages.writer.next': unknown stage 'nope'");
    EXPECT_EQ(load_error("[stages.transport-manager.transports]\nwebsocket = \"fmt\""),
              "config key 'stages.transport-manager.transports.websocket': unknown stage 'fmt'");
}

TEST(GraphConfig, ACycleOfBuiltInStagesIsRefusedButOneThroughACustomStageIsNot) {
    auto e = load_error("[stages.transport-manager]\nnext = [\"writer\"]");
    EXPECT_NE(e.find("cycle of built-in stages"), std::string::npos) << e;
    EXPECT_NE(e.find("transport-manager -> writer -> transport-manager"), std::string::npos) << e;
    EXPECT_EQ(load_error("[stages.transport-manager]\nnext = [\"loop\"]\n[stages.loop]\nkind = \"exec\"\ncommand = [\"x\"]\nnext = [\"writer\"]"),
              "(loaded)");
}

TEST(GraphConfig, CustomStagesNeedTheirKeys) {
    EXPECT_EQ(load_error("[stages.x]\nnext = [\"writer\"]"), "config key 'stages.x.kind': a custom stage needs kind = \"exec\" | \"webhook\" | \"cpp\"");
    EXPECT_EQ(load_error("[stages.x]\nkind = \"exec\""), "config key 'stages.x.command': an exec stage needs command = [program, args...]");
    EXPECT_EQ(load_error("[stages.x]\nkind = \"webhook\""), "config key 'stages.x.url': a webhook stage needs url = \"http://host/path\"");
    EXPECT_EQ(load_error("[stages.x]\nkind = \"ftp\""), "config key 'stages.x.kind': must be one of exec, webhook, cpp, got 'ftp'");
    EXPECT_EQ(load_error("[stages.writer]\nkind = \"exec\""), "config key 'stages.writer.kind': 'writer' is a built-in stage: it has no kind");
    EXPECT_EQ(load_error("[stages.writer]\nretries = 3"), "config key 'stages.writer.retries': unknown key");
    EXPECT_EQ(load_error("[stages.writer]\non_failure = \"ignore\""),
              "config key 'stages.writer.on_failure': must be one of dead-letter, drop, continue, got 'ignore'");
    EXPECT_EQ(load_error("[stages.writer]\nbackoff_ms = [100]"), "config key 'stages.writer.backoff_ms': must be [first, cap] in milliseconds");
    EXPECT_EQ(load_error("[stages.writer]\ninstances = 0"), "config key 'stages.writer.instances': must be a positive integer");
    EXPECT_EQ(load_error("[stages.x]\nkind = \"webhook\"\nurl = \"ftp://h/\""), "config key 'stages.x.url': must be an http:// URL, got 'ftp://h/'");
    EXPECT_EQ(load_error("[api]\nhost = 1"), "config key 'api.host': unknown key");
}

}  // namespace
