#include <sluice/channel/channel.hpp>
#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>

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
        {"app", "task", std::nullopt, std::nullopt, "0123456789abcdef"},
        {"app", "task", std::nullopt, "id-1", "0123456789abcdef"},
        {"app", "task", "u1", std::nullopt, "fedcba9876543210"},
        {"app", "task", "u1", "id-1", "0000000000000000"},
        {"filter", "filter", "filter", "filter", "0123456789abcdef"},
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

// The expected ids were computed independently with Python:
//   t = json.dumps(f, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
//   hashlib.sha256(t.encode()).hexdigest()[:16]
TEST(Channel, FilterIdIsTheSha256OfTheCanonicalJson) {
    using sluice::channel::filter_id;
    using sluice::parse_json;
    // '{"status":"open"}'
    EXPECT_EQ(filter_id(parse_json(R"({"status":"open"})")), "bc99066a8b813e76");
    // '{"assignee":{"$in":["me","you"]},"n":{"$gt":2},"status":"open"}'
    EXPECT_EQ(filter_id(parse_json(R"({"status": "open", "n": {"$gt": 2}, "assignee": {"$in": ["me", "you"]}})")),
              "858ddf9c050e02e7");
    // Nested objects sorted, arrays kept in order, escapes, UTF-8 as is:
    // '{"$or":[{"m":-5},{"m":12345678901234}],"a":{"x":"q\"\\\n\t\u0001","y":"café ✓"},"z":[{"a":[3,1,2],"b":1},null,true,false]}'
    EXPECT_EQ(filter_id(parse_json(
                  R"({"z":[{"b":1,"a":[3,1,2]},null,true,false],"a":{"y":"caf\u00e9 \u2713","x":"q\"\\\n\t\u0001"},)"
                  R"("$or":[{"m":-5},{"m":12345678901234}]})")),
              "3acc3c733a2195f7");
    // Key order does not matter, array order does.
    EXPECT_EQ(filter_id(parse_json(R"({"a":1,"b":{"c":2,"d":3}})")), filter_id(parse_json(R"({"b":{"d":3,"c":2},"a":1})")));
    EXPECT_NE(filter_id(parse_json(R"({"a":{"$in":[1,2]}})")), filter_id(parse_json(R"({"a":{"$in":[2,1]}})")));
    EXPECT_NE(filter_id(parse_json(R"({"a":1})")), filter_id(parse_json(R"({"a":"1"})")));
}

TEST(Channel, FilteredChannelsNameThePatternAndTheFilter) {
    channel c{"a", "task", std::nullopt, std::nullopt, sluice::channel::filter_id(sluice::parse_json(R"({"status":"open"})"))};
    EXPECT_EQ(c.to_string(), "app:a:model:task:filter:bc99066a8b813e76");
    EXPECT_EQ(c.pattern(), "app:a:model:task");
    auto parsed = channel::parse("app:a:user:u%3A1:model:task:id:x:filter:bc99066a8b813e76");
    EXPECT_EQ(parsed.user, "u:1");
    EXPECT_EQ(parsed.id, "x");
    EXPECT_EQ(parsed.filter, "bc99066a8b813e76");
    EXPECT_EQ(parsed.pattern(), "app:a:user:u%3A1:model:task:id:x");
    EXPECT_FALSE(channel::parse("app:a:model:task").filter.has_value());
}

TEST(Channel, RejectsMalformedFilterIds) {
    for (const char* bad : {"app:a:model:m:filter:", "app:a:model:m:filter:0123456789ABCDEF",
                            "app:a:model:m:filter:0123456789abcde", "app:a:model:m:filter:0123456789abcdef0",
                            "app:a:model:m:filter:0123456789abcdeg", "app:a:model:m:filter:0123456789abcd%3A",
                            "app:a:model:m:filter:0123456789abcdef:id:x",
                            "app:a:model:m:filter:0123456789abcdef:filter:0123456789abcdef"}) {
        try {
            channel::parse(bad);
            ADD_FAILURE() << "parsed " << bad;
        } catch (const sluice::invalid_input& e) {
            EXPECT_EQ(e.code(), "invalid_channel");
            EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
        }
    }
    try {
        channel::parse("app:a:model:m:filter:XYZ");
        ADD_FAILURE();
    } catch (const sluice::invalid_input& e) {
        EXPECT_NE(std::string(e.what()).find("filter id 'XYZ' must be 16 lower-case hex digits"), std::string::npos) << e.what();
    }
    EXPECT_THROW((channel{"a", "m", std::nullopt, std::nullopt, "nothex"}.to_string()), sluice::invalid_input);
}

}  // namespace
