// Patch apply throughput: a typical update (replace, incr, append) on a 20-field document.
#include <sluice/core/json_io.hpp>
#include <sluice/json/patch.hpp>

#include <benchmark/benchmark.h>

namespace {

const char* document = R"({"id":"task-1","title":"Write the benchmark","status":"open","priority":3,"score":41.5,
  "done":false,"tags":["red","blue"],"owner":{"name":"ann","team":"core"},"count":0,"notes":"",
  "items":[{"sku":"s1","qty":2},{"sku":"s2","qty":1}],"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9})";

void BM_PatchApplyRfc6902(benchmark::State& state) {
    auto doc = sluice::parse_json(document);
    auto patch = sluice::json::patch::parse(R"([{"op":"replace","path":"/status","value":"closed"},
        {"op":"add","path":"/tags/-","value":"done"},{"op":"test","path":"/owner/name","value":"ann"}])");
    for (auto _ : state) benchmark::DoNotOptimize(patch.applied_to(doc));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PatchApplyRfc6902);

void BM_PatchApplySeed(benchmark::State& state) {
    auto doc = sluice::parse_json(document);
    auto patch = sluice::json::patch::parse(R"([{"op":"incr","path":["count"],"value":[1]},
        {"op":"append","path":["notes"],"value":["x"]},{"op":"replace","path":["owner.team"],"value":["web"]}])");
    for (auto _ : state) benchmark::DoNotOptimize(patch.applied_to(doc));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PatchApplySeed);

void BM_PatchParseAndApply(benchmark::State& state) {
    auto doc = sluice::parse_json(document);
    const char* text = R"([{"op":"replace","path":"/status","value":"closed"},{"op":"incr","path":["count"]}])";
    for (auto _ : state) benchmark::DoNotOptimize(sluice::json::patch::parse(text).applied_to(doc));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PatchParseAndApply);

}  // namespace
