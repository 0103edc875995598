#include <sluice/pipeline/device_hub.hpp>

#include "../temp_file.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

namespace {

using namespace sluice::pipeline;
namespace fs = std::filesystem;

struct recording_connection : connection {
    std::vector<std::pair<std::string, std::uint64_t>> sent;
    std::uint16_t closed = 0;
    void send(frame_head head, std::uint64_t seq) override { sent.emplace_back(*head, seq); }
    void close(std::uint16_t code, const std::string&) override { closed = code; }
};

struct DeviceHub : ::testing::Test {
    sluice::testing::temp_database db{"sluice_hub_"};
    const fs::path& file = db.path();
    static delivery to(std::vector<std::string> devices, const char* head) {
        return {std::move(devices), std::make_shared<const std::string>(head)};
    }
};

TEST_F(DeviceHub, SequencesPerDeviceAndSendsToConnections) {
    device_hub hub(file, 10, std::chrono::seconds(60));
    auto a = std::make_shared<recording_connection>();
    EXPECT_EQ(hub.attach("A", a, std::nullopt).seq, 0u);
    hub.deliver({to({"A", "B"}, "one"), to({"A"}, "two")});
    hub.deliver({to({"B"}, "three")});
    ASSERT_EQ(a->sent.size(), 2u);
    EXPECT_EQ(a->sent[0], (std::pair<std::string, std::uint64_t>{"one", 1}));
    EXPECT_EQ(a->sent[1], (std::pair<std::string, std::uint64_t>{"two", 2}));
    auto b = std::make_shared<recording_connection>();
    auto attached = hub.attach("B", b, 0);
    EXPECT_EQ(attached.seq, 2u);
    ASSERT_EQ(attached.replay.size(), 2u);
    EXPECT_EQ(*attached.replay[1].second, "three");
}

TEST_F(DeviceHub, HandsAConnectionItsFramesOfABatchAtOnceInOrder) {
    struct batching_connection : recording_connection {
        std::size_t hand_overs = 0;
        void send_all(std::vector<std::pair<frame_head, std::uint64_t>> frames) override {
            ++hand_overs;
            for (auto& [head, seq] : frames) send(std::move(head), seq);
        }
    };
    device_hub hub(file, 10, std::chrono::seconds(60));
    auto a = std::make_shared<batching_connection>();
    auto b = std::make_shared<batching_connection>();
    hub.attach("A", a, std::nullopt);
    hub.attach("B", b, std::nullopt);
    hub.deliver({to({"A", "B"}, "one"), to({"A"}, "two"), to({"B", "A"}, "three")});
    EXPECT_EQ(a->hand_overs, 1u);
    EXPECT_EQ(b->hand_overs, 1u);
    EXPECT_EQ(a->sent, (std::vector<std::pair<std::string, std::uint64_t>>{{"one", 1}, {"two", 2}, {"three", 3}}));
    EXPECT_EQ(b->sent, (std::vector<std::pair<std::string, std::uint64_t>>{{"one", 1}, {"three", 2}}));
}

TEST_F(DeviceHub, ReadsAStreamWithinBoundsWithoutAttaching) {
    device_hub hub(file, 3, std::chrono::seconds(60));
    for (const char* h : {"1", "2", "3", "4", "5"}) hub.deliver({to({"A"}, h)});
    auto read = hub.read("A", 2, 5, 10);  // the backlog holds 3..5
    EXPECT_FALSE(read.resync_required);
    EXPECT_EQ(read.seq, 5u);
    ASSERT_EQ(read.replay.size(), 3u);
    EXPECT_EQ(read.replay.front().first, 3u);
    auto bounded = hub.read("A", 2, 4, 1);  // at most one, none past 4
    ASSERT_EQ(bounded.replay.size(), 1u);
    EXPECT_EQ(*bounded.replay[0].second, "3");
    EXPECT_EQ(hub.read("A", 3, 4, 10).replay.size(), 1u);
    EXPECT_TRUE(hub.read("A", 1, 5, 10).resync_required);  // 2 is no longer kept
    EXPECT_TRUE(hub.read("A", 5, 5, 10).replay.empty());
    EXPECT_TRUE(hub.read("nobody", 0, 0, 10).replay.empty());
    // Reading attached nothing: the device still expires once its grace period is over.
    device_hub short_grace(file.string() + "-2", 3, std::chrono::seconds(0));
    short_grace.deliver({to({"B"}, "x")});
    short_grace.read("B", 0, 1, 10);
    short_grace.restore("B");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // past a grace period of 0 s
    EXPECT_EQ(short_grace.expire(), std::vector<std::string>{"B"});
}

TEST_F(DeviceHub, ResumesAcrossRestartsAndAsksForResyncBeyondTheBacklog) {
    {
        device_hub hub(file, 3, std::chrono::seconds(60));
        for (const char* h : {"1", "2", "3", "4", "5"}) hub.deliver({to({"A"}, h)});
    }
    device_hub hub(file, 3, std::chrono::seconds(60));
    auto c = std::make_shared<recording_connection>();
    auto resumed = hub.attach("A", c, 3);
    EXPECT_FALSE(resumed.resync_required);
    EXPECT_EQ(resumed.seq, 5u);
    ASSERT_EQ(resumed.replay.size(), 2u);
    EXPECT_EQ(resumed.replay[0].first, 4u);
    EXPECT_EQ(*resumed.replay[0].second, "4");
    EXPECT_TRUE(hub.attach("A", c, 1).resync_required);   // 2 is no longer kept
    EXPECT_TRUE(hub.attach("A", c, 9).resync_required);   // ahead of the server
    EXPECT_TRUE(hub.attach("A", c, 5).replay.empty());
    hub.deliver({to({"A"}, "6")});
    EXPECT_EQ(c->sent.back().second, 6u);  // numbering continues after the restart
}

TEST_F(DeviceHub, ExpiresDevicesAfterTheGracePeriodOnly) {
    device_hub hub(file, 3, std::chrono::seconds(0));
    auto c = std::make_shared<recording_connection>();
    hub.attach("A", c, std::nullopt);
    hub.attach("B", std::make_shared<recording_connection>(), std::nullopt);
    hub.detach("B", nullptr);
    hub.close_device("A", 4001, "logged out");
    EXPECT_EQ(c->closed, 4001);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_TRUE(hub.expire().empty());  // both still have a connection
    hub.detach("A", c.get());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(hub.expire(), std::vector<std::string>{"A"});
}

TEST_F(DeviceHub, AFailedLogWriteSendsNothingAndLeavesNoGap) {
    device_hub hub(file, 10, std::chrono::seconds(60));
    auto c = std::make_shared<recording_connection>();
    hub.attach("A", c, std::nullopt);
    hub.deliver({to({"A"}, "one")});
    {
        SQLite::Database other(file.string(), SQLite::OPEN_READWRITE);
        other.exec("BEGIN EXCLUSIVE");  // the log cannot be written until this ends
        EXPECT_ANY_THROW(hub.deliver({to({"A"}, "two")}));
        other.exec("ROLLBACK");
    }
    hub.deliver({to({"A"}, "two")});
    ASSERT_EQ(c->sent.size(), 2u);
    EXPECT_EQ(c->sent[1], (std::pair<std::string, std::uint64_t>{"two", 2}));
    auto again = hub.attach("A", c, 0);
    ASSERT_EQ(again.replay.size(), 2u);
    EXPECT_EQ(*again.replay[1].second, "two");
}

}  // namespace
