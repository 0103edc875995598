// Routing cost of one change on a model with N subscriptions (1k, 10k, 100k) of which about 1 %
// match: a third equality filters, a third $in filters, a third numeric ranges.
#include <sluice/channel/channel.hpp>
#include <sluice/registry/subscription_index.hpp>

#include <benchmark/benchmark.h>

#include <random>

namespace {

namespace bj = boost::json;
using sluice::json::filter;

void BM_RouteOneChange(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    std::mt19937 rng(1);
    sluice::registry::subscription_index index;
    const std::string channel = "app:demo:model:task";
    for (std::size_t i = 0; i < n; ++i) {
        std::string q;
        switch (i % 3) {
            case 0: q = R"({"status":"s)" + std::to_string(rng() % 100) + R"("})"; break;
            case 1: q = R"({"status":{"$in":["s)" + std::to_string(rng() % 200) + R"(","s)" + std::to_string(100 + rng() % 100) + R"("]}})"; break;
            default: {
                auto low = rng() % 100;
                q = R"({"score":{"$gte":)" + std::to_string(low) + R"(,"$lt":)" + std::to_string(low + 1) + "}}";
            }
        }
        index.add(i, channel, filter::compile(q));
    }
    auto channels = sluice::channel::channels_for({"demo", "task", "t1", "u1"});
    std::vector<bj::value> docs;
    for (int i = 0; i < 64; ++i) {
        docs.push_back(bj::object{{"status", "s" + std::to_string(rng() % 100)}, {"score", (rng() % 10000) / 100.0},
                                  {"title", "a task"}});
    }
    std::vector<sluice::registry::match> out;
    std::size_t k = 0, matched = 0;
    for (auto _ : state) {
        out.clear();
        index.find(channels, &docs[k % docs.size()], &docs[(k + 1) % docs.size()], out);
        matched += out.size();
        ++k;
    }
    state.counters["matches_per_change"] = static_cast<double>(matched) / static_cast<double>(state.iterations());
    state.counters["subscriptions"] = static_cast<double>(n);
}
BENCHMARK(BM_RouteOneChange)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond);

}  // namespace
