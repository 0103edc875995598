#include <sluice/channel/channel.hpp>
#include <sluice/core/error.hpp>

#include <gtest/gtest.h>

namespace {

using sluice::channel::channel;

TEST(Channel, FormatsTheFourPatterns) {
    auto names = sluice::channel::channels_for({"myapp", "task", "task-456", "user123"});
    ASSERT_EQ(names.size(), 4u);
    EXPECT_EQ(names[0], "app:myapp:model:task");
    EXPECT_EQ(names[1], "app:myapp:model:task:id:task-456");
    EXPECT_EQ(names[2], "app:myapp:user:user123:model:task");
    EXPECT_EQ(names[3], "app:myapp:user:user123:model:task:id:task-456");
    EXPECT_EQ(sluice::channel::channels_for({"a", "m", "1", ""}).size(), 2u);
}

TEST(Channel, RoundTripsEveryPattern) {
    std::vector<channel> cases = {
        {"app", "task", std::nullopt, std::nullopt},
        {"app", "task", std::nullopt, "id-1"},
        {"app", "task", "u1", std::nullopt},
        {"app", "task", "u1", "id-1"},
        {"a:b", "m%d", "user:x", "x:model:y"},
        {"app", "model", "id", "user"},  // names equal to the labels
    };
    for (const auto& c : cases) {
        EXPECT_EQ(channel::parse(c.to_string()), c) << c.to_string();
    }
}

TEST(Channel, EscapingPreventsCollisions) {
    // Without escaping both would be "app:a:model:m:id:x:id:y".
    channel one{"a", "m", std::nullopt, "x:id:y"};
    auto names = sluice::channel::channels_for({"a", "m", "x:id:y", ""});
    EXPECT_EQ(names[1], one.to_string());
    EXPECT_EQ(one.to_string(), "app:a:model:m:id:x%3Aid%3Ay");
    EXPECT_NE(channel({"a", "m", "u", "1"}).to_string(), channel({"a", "m", std::nullopt, "1"}).to_string());
    EXPECT_EQ(sluice::channel::escape("100%"), "100%25");
}

TEST(Channel, RejectsMalformedNames) {
    for (const char* bad : {"", "app:a", "app:a:model", "app:a:model:m:id", "app:a:model:m:x:y", "model:m:app:a",
                            "app::model:m", "app:a:model:m:id:x%zz", "app:a:user:u:model:m:id:i:extra:1"}) {
        EXPECT_THROW(channel::parse(bad), sluice::invalid_input) << bad;
    }
}

}  // namespace
