// The shared device streams (redis/device_streams.hpp) against a real standalone Redis and a real
// 3-master Redis Cluster: numbering, the (op, event) dedupe a redelivered change relies on, the
// bounded backlog and resync, the socket directory, and scripts a restarted node no longer knows.
#include <gtest/gtest.h>

#include <algorithm>
#include <sluice/core/error.hpp>
#include <sluice/redis/device_streams.hpp>

#include "redis_servers.hpp"

namespace {

using namespace std::chrono_literals;
using namespace sluice::testing::redis_servers;
using frame = sluice::pipeline::device_log::frame;
using numbers = std::vector<std::uint64_t>;

std::string head(int op, const char* event = "model_created") {
    return std::string("{\"event\":\"") + event + "\",\"op\":\"op" + std::to_string(op) + "\",\"data\":{\"n\":" +
           std::to_string(op) + "},\"seq\":";
}

class DeviceStreams : public ::testing::TestWithParam<bool> {
  protected:
    void SetUp() override {
        prefix_ = "t:" + std::to_string(::getpid()) + ":" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
        std::replace(prefix_.begin(), prefix_.end(), '/', '_');
        delete_keys(cluster(), prefix_);
    }
    void TearDown() override { delete_keys(cluster(), prefix_); }
    bool cluster() const { return GetParam(); }

    sluice::redis::device_streams open(std::size_t backlog = 1000) {
        sluice::redis::device_streams_options o;
        o.urls = urls(cluster());
        o.cluster = cluster();
        o.key_prefix = prefix_;
        o.backlog = backlog;
        return sluice::redis::open_redis_device_streams(o);
    }

    std::string prefix_;
};

INSTANTIATE_TEST_SUITE_P(Redis, DeviceStreams, ::testing::Values(false, true),
                         [](const auto& info) { return std::string(info.param ? "cluster" : "standalone"); });

TEST_P(DeviceStreams, FramesOfOneCallAreNumberedInOrderPerDevice) {
    auto s = open();
    auto got = s.log->append({{{"a", "b"}, head(1)}, {{"b"}, head(2)}, {{"a", "c", "b"}, head(3)}});
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], (numbers{1, 1}));
    EXPECT_EQ(got[1], (numbers{2}));
    EXPECT_EQ(got[2], (numbers{2, 1, 3}));
    auto b = s.log->read("b", 0);
    EXPECT_EQ(b.seq, 3u);
    EXPECT_FALSE(b.resync_required);
    ASSERT_EQ(b.frames.size(), 3u);
    EXPECT_EQ(b.frames[0], std::make_pair(std::uint64_t{1}, head(1)));
    EXPECT_EQ(b.frames[2], std::make_pair(std::uint64_t{3}, head(3)));
    EXPECT_EQ(s.log->read("c", std::nullopt).seq, 1u);
    EXPECT_TRUE(s.log->read("c", std::nullopt).frames.empty());
}

TEST_P(DeviceStreams, TheSameOpAndEventAgainGetsTheSameNumbers) {
    auto s = open();
    s.log->append({{{"a", "b"}, head(1)}, {{"a"}, head(2)}});
    // A redelivered change (same op and event, even with other data) is numbered as before; the
    // same op with another event (a filtered leave next to an update) is a frame of its own.
    auto again = s.log->append({{{"b", "a"}, head(1)}, {{"a"}, head(1, "model_updated")}});
    EXPECT_EQ(again[0], (numbers{1, 1}));
    EXPECT_EQ(again[1], (numbers{3}));
    EXPECT_EQ(s.log->read("a", 0).frames.size(), 3u);
    EXPECT_EQ(s.log->read("b", 0).frames.size(), 1u);
}

TEST_P(DeviceStreams, TheBacklogIsBoundedAndAnOlderResumePointNeedsAResync) {
    auto s = open(3);
    for (int i = 1; i <= 5; ++i) s.log->append({{{"a"}, head(i)}});
    auto r = s.log->read("a", 2);
    EXPECT_FALSE(r.resync_required);
    ASSERT_EQ(r.frames.size(), 3u);
    EXPECT_EQ(r.frames.front().first, 3u);
    EXPECT_EQ(r.frames.back().first, 5u);
    EXPECT_TRUE(s.log->read("a", 1).resync_required);
    EXPECT_TRUE(s.log->read("a", 9).resync_required);  // ahead of the device's numbers
    EXPECT_TRUE(s.log->read("a", 5).frames.empty());
    // A frame that fell out of the backlog is not recognised any more: it gets a new number.
    EXPECT_EQ(s.log->append({{{"a"}, head(1)}})[0], (numbers{6}));
}

TEST_P(DeviceStreams, ManyDevicesInOneCall) {
    auto s = open();
    std::vector<std::string> devices;
    for (int i = 0; i < 300; ++i) devices.push_back("device-" + std::to_string(i));  // every node's slots
    auto first = s.log->append({{devices, head(1)}, {devices, head(2)}});
    EXPECT_EQ(first[0], numbers(devices.size(), 1));
    EXPECT_EQ(first[1], numbers(devices.size(), 2));
    for (const auto& d : {devices.front(), devices.back()}) EXPECT_EQ(s.log->read(d, 0).frames.size(), 2u);
}

TEST_P(DeviceStreams, ScriptsFlushedOnTheServersAreSentAgain) {
    auto s = open();
    s.log->append({{{"a", "b", "c"}, head(1)}});
    for (const auto& url : urls(cluster())) raw(port_of(url)).run({"SCRIPT", "FLUSH"});
    auto got = s.log->append({{{"a", "b", "c"}, head(2)}});
    EXPECT_EQ(got[0], (numbers{2, 2, 2}));
    EXPECT_EQ(s.log->read("a", 1).frames.size(), 1u);
}

TEST_P(DeviceStreams, TheDirectoryNamesTheLatestLiveInstance) {
    auto s = open();
    s.directory->attach("a", "ws-1");
    s.directory->attach("b", "ws-2");
    EXPECT_EQ(s.directory->locate({"a", "b", "c"}), (std::vector<std::string>{"", "", ""}))
        << "instances that never beat are not alive";
    s.directory->beat("ws-1", 30s);
    s.directory->beat("ws-2", 30s);
    // `alive` is remembered for a second per instance: a fresh stream sees the beats at once.
    auto fresh = open();
    EXPECT_EQ(fresh.directory->locate({"a", "b", "c"}), (std::vector<std::string>{"ws-1", "ws-2", ""}));
    fresh.directory->attach("a", "ws-2");  // the device moved
    fresh.directory->detach("a", "ws-1");  // the old instance's late detach does not undo it
    EXPECT_EQ(fresh.directory->locate({"a"}), (std::vector<std::string>{"ws-2"}));
    fresh.directory->detach("a", "ws-2");
    EXPECT_EQ(fresh.directory->locate({"a"}), (std::vector<std::string>{""}));
}

TEST_P(DeviceStreams, AnUnreachableServerIsAnOutageOfTheDevicesBackend) {
    sluice::redis::device_streams_options o;
    o.urls = {"redis://127.0.0.1:1"};
    o.cluster = cluster();
    o.key_prefix = prefix_;
    o.timeout = 300ms;
    auto s = sluice::redis::open_redis_device_streams(o);
    try {
        s.log->append({{{"a"}, head(1)}});
        FAIL() << "no outage reported";
    } catch (const sluice::unavailable& e) {
        EXPECT_EQ(e.backend(), "devices");
    }
}

}  // namespace
