// Routing cost of one change on a model with N subscriptions (1k, 10k, 100k) of which about 1 %
// match: a third equality filters, a third $in filters, a third numeric ranges. And through the
// registry, 100 devices with 10 or 1,000 equality-filtered subscriptions each (each its own
// channel), every change matching exactly one.
#include <sluice/channel/channel.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/registry/registry.hpp>
#include <sluice/registry/subscription_index.hpp>

#include <benchmark/benchmark.h>

#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <unistd.h>

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

/// A registry (in a temporary file, removed at exit) with 100 devices of `per_device` subscriptions
/// each, built once per size: Google Benchmark calls a benchmark several times.
sluice::registry::registry& registry_with(int per_device) {
    struct built {
        std::filesystem::path file;
        std::unique_ptr<sluice::registry::registry> registry;
        ~built() {
            registry.reset();
            for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(file.string() + suffix);
        }
    };
    static std::map<int, built> cache;
    auto [it, inserted] = cache.try_emplace(per_device);
    if (inserted) {
        it->second.file = std::filesystem::temp_directory_path() /
                          ("sluice_bench_registry_" + std::to_string(::getpid()) + "_" + std::to_string(per_device) + ".db");
        it->second.registry = sluice::registry::open_embedded(it->second.file);
        const std::string pattern = "app:demo:model:task";
        for (int d = 0; d < 100; ++d) {
            for (int j = 0; j < per_device; ++j) {
                bj::value f = bj::object{{"k", "d" + std::to_string(d) + "-" + std::to_string(j)}};
                it->second.registry->subscribe(
                    {"d" + std::to_string(d), "demo", "u", pattern + ":filter:" + sluice::channel::filter_id(f), f},
                    filter::compile(f), static_cast<std::size_t>(per_device));
            }
        }
    }
    return *it->second.registry;
}

void BM_RouteManySubscriptionsPerDevice(benchmark::State& state) {
    const auto per_device = static_cast<int>(state.range(0));
    auto& registry = registry_with(per_device);
    auto channels = sluice::channel::channels_for({"demo", "task", "t1", "u1"});
    std::vector<bj::value> docs;
    std::mt19937 rng(1);
    for (int i = 0; i < 1024; ++i) {
        docs.push_back(bj::object{{"k", "d" + std::to_string(rng() % 100) + "-" + std::to_string(rng() % per_device)},
                                  {"title", "a task"}});
    }
    std::vector<sluice::registry::route> out;
    std::size_t k = 0, routed = 0;
    for (auto _ : state) {
        out.clear();
        registry.find(channels, nullptr, &docs[k++ % docs.size()], out);
        routed += out.size();
    }
    state.counters["routes_per_change"] = static_cast<double>(routed) / static_cast<double>(state.iterations());
    state.counters["subscriptions"] = static_cast<double>(100 * per_device);
}
BENCHMARK(BM_RouteManySubscriptionsPerDevice)->Arg(10)->Arg(1000)->Unit(benchmark::kMicrosecond);

}  // namespace
