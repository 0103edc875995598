// Callers of user code (caller.hpp, child_process.hpp, hooks.hpp) against real child processes
// (python3 scripts written here) and registered functions.
#include <sluice/callout/caller.hpp>
#include <sluice/callout/hooks.hpp>

#include "../temp_file.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <future>
#include <thread>

namespace {

using namespace std::chrono_literals;
namespace bj = boost::json;
using sluice::callout::failure;

/// A python3 child answering each request line with `reply_code` (Python, `request` in scope,
/// assigning `reply`), the request's id added.
struct script {
    sluice::testing::temp_database dir{"sluice_callout_"};
    std::string path;
    explicit script(const std::string& reply_code) {
        path = dir.path().string() + ".py";
        std::ofstream(path) << "import json, sys, time, os\n"
                               "for line in sys.stdin:\n"
                               "    request = json.loads(line)\n"
                               "    " << reply_code << "\n"
                               "    reply['id'] = request['id']\n"
                               "    print(json.dumps(reply), flush=True)\n";
    }
    ~script() { std::remove(path.c_str()); }
    sluice::config::callout_config exec(std::size_t instances = 1, std::chrono::milliseconds timeout = 5000ms) const {
        sluice::config::callout_config c;
        c.kind = sluice::config::stage_kind::exec;
        c.command = {"python3", path};
        c.timeout = timeout;
        c.instances = instances;
        return c;
    }
};

TEST(ChildProcess, KeepsARequestsOwnIdAndAddsOneOtherwise) {
    script s("reply = {'echo': request}");
    sluice::callout::child_process child("test", {"python3", s.path});
    auto own = child.call(bj::object{{"id", "doc-7"}, {"x", 1}}, 5000ms);
    EXPECT_EQ(own.at("echo").at("id"), "doc-7");
    EXPECT_FALSE(own.contains("id")) << "the framing id is not part of the reply";
    auto fresh = child.call(bj::object{{"x", 2}}, 5000ms);
    EXPECT_TRUE(fresh.at("echo").at("id").is_string());
    EXPECT_EQ(fresh.at("echo").at("x"), 2);
}

TEST(ChildProcess, ATimeoutFailsTheCallAndTheNextCallGetsAFreshChild) {
    script s("reply = {'pid': os.getpid()}\n    time.sleep(request.get('sleep', 0))");
    sluice::callout::child_process child("test", {"python3", s.path});
    auto first = child.call(bj::object{}, 5000ms).at("pid");
    try {
        child.call(bj::object{{"sleep", 5}}, 300ms);
        FAIL() << "expected a timeout";
    } catch (const failure& e) {
        EXPECT_NE(std::string(e.what()).find("did not answer within 300 ms"), std::string::npos) << e.what();
    }
    EXPECT_NE(child.call(bj::object{}, 5000ms).at("pid"), first);
}

TEST(Caller, InstancesAnswerAtOnce) {
    // Each request marks the meeting folder, then waits (up to 10 s) for the other's mark: two
    // calls at once meet only if two children answer at once.
    auto meeting = std::filesystem::temp_directory_path() / ("sluice_meet_" + std::to_string(::getpid()));
    std::filesystem::remove_all(meeting);
    std::filesystem::create_directories(meeting);
    script s("d = '" + meeting.string() + "'\n"
             "    open(os.path.join(d, str(os.getpid())), 'w').close()\n"
             "    deadline = time.time() + 10\n"
             "    while len(os.listdir(d)) < 2 and time.time() < deadline: time.sleep(0.01)\n"
             "    reply = {'pid': os.getpid(), 'met': len(os.listdir(d)) >= 2}");
    auto caller = sluice::callout::make_caller(s.exec(2, 20000ms), "test", "k");
    auto a = std::async(std::launch::async, [&] { return caller->call({}); });
    auto b = std::async(std::launch::async, [&] { return caller->call({}); });
    auto ra = a.get(), rb = b.get();
    EXPECT_TRUE(ra.at("met").as_bool() && rb.at("met").as_bool()) << "the calls ran one after the other";
    EXPECT_NE(ra.at("pid"), rb.at("pid"));
    caller->stop();
    std::filesystem::remove_all(meeting);
}

TEST(Caller, ACalleeThatAnswersNoObjectFails) {
    script s("reply = {}\n    print('not json', flush=True)\n    continue");
    auto caller = sluice::callout::make_caller(s.exec(), "test", "k");
    EXPECT_THROW(caller->call({}), failure);
}

TEST(Caller, RegisteredFunctionsAndTheirExceptions) {
    sluice::callout::register_function("double", [](const bj::object& r) {
        if (!r.contains("n")) throw std::runtime_error("no n");
        return bj::object{{"n", r.at("n").as_int64() * 2}};
    });
    sluice::config::callout_config c;
    c.kind = sluice::config::stage_kind::cpp;
    c.function = "double";
    auto caller = sluice::callout::make_caller(c, "test", "k");
    EXPECT_EQ(caller->call({{"n", 21}}).at("n"), 42);
    EXPECT_THROW(caller->call({}), failure);
    c.function = "missing";
    try {
        sluice::callout::make_caller(c, "test", "apps.a.models.m.hooks[0]");
        FAIL() << "expected a config error";
    } catch (const sluice::config::config_error& e) {
        EXPECT_NE(std::string(e.what()).find("apps.a.models.m.hooks[0].function"), std::string::npos) << e.what();
    }
}

sluice::config::config with_hooks(std::vector<std::pair<std::vector<std::string>, std::string>> hooks) {
    sluice::config::config c;
    auto& model = c.apps["a"].models["m"];
    for (auto& [on, function] : hooks) {
        sluice::config::hook_config h;
        h.on = on;
        h.call.kind = sluice::config::stage_kind::cpp;
        h.call.function = function;
        model.hooks.push_back(h);
    }
    return c;
}

TEST(Hooks, RunInOrderEachSeeingTheLastReplacement) {
    sluice::callout::register_function("add-a", [](const bj::object& r) {
        auto data = r.at("data").as_object();
        data["trail"] = std::string(data.contains("trail") ? data.at("trail").as_string().c_str() : "") + "a";
        return bj::object{{"data", data}};
    });
    sluice::callout::register_function("add-b", [](const bj::object& r) {
        auto data = r.at("data").as_object();
        data["trail"] = std::string(data.at("trail").as_string().c_str()) + "b";
        return bj::object{{"data", data}};
    });
    sluice::callout::register_function("go-on", [](const bj::object&) { return bj::object{}; });
    sluice::callout::hooks hooks(with_hooks({{{"before:create"}, "add-a"}, {{"before:get"}, "go-on"}, {{"before:create"}, "add-b"}}));
    EXPECT_TRUE(hooks.has("a", "m", "before:create"));
    EXPECT_FALSE(hooks.has("a", "m", "after:create"));
    EXPECT_FALSE(hooks.has("a", "other", "before:create"));
    auto data = hooks.run("before:create", {{"app", "a"}, {"model", "m"}, {"id", "x"}}, "data", bj::object{{"title", "t"}});
    EXPECT_EQ(data.at("trail"), "ab");
    EXPECT_EQ(data.at("title"), "t");
}

TEST(Hooks, ARefusalKeepsItsStatusAndABadReplyIsHookFailed) {
    sluice::callout::register_function("refuse", [](const bj::object&) {
        return bj::object{{"error", bj::object{{"status", 409}, {"code", "taken"}, {"message", "no"}}}};
    });
    sluice::callout::register_function("wrong-type", [](const bj::object&) { return bj::object{{"data", 5}}; });
    sluice::callout::register_function("bad-status", [](const bj::object&) { return bj::object{{"error", bj::object{{"status", 200}}}}; });
    sluice::callout::hooks refusing(with_hooks({{{"before:create"}, "refuse"}}));
    try {
        refusing.run("before:create", {{"app", "a"}, {"model", "m"}}, "data", bj::object{});
        FAIL() << "expected a refusal";
    } catch (const sluice::callout::hook_refusal& r) {
        EXPECT_EQ(r.status(), 409u);
        EXPECT_EQ(r.code(), "taken");
        EXPECT_STREQ(r.what(), "no");
    }
    for (const char* f : {"wrong-type", "bad-status"}) {
        sluice::callout::hooks bad(with_hooks({{{"before:create"}, f}}));
        try {
            bad.run("before:create", {{"app", "a"}, {"model", "m"}}, "data", bj::object{});
            FAIL() << f;
        } catch (const sluice::error& e) {
            EXPECT_EQ(e.kind(), sluice::errc::hook_failed) << f;
        }
    }
}

}  // namespace
