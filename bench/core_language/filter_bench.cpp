// Filter evaluation per document over a mix of queries (filter_cases.json, shared with the mingo
// benchmark so the two are compared on the same work).
#include <sluice/core/json_io.hpp>
#include <sluice/json/filter.hpp>

#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>

namespace {

struct cases {
    std::vector<sluice::json::filter> filters;
    boost::json::array docs;
};

const cases& load() {
    static const cases c = [] {
        std::ifstream in(std::string(BENCH_DATA_DIR) + "/filter_cases.json");
        std::stringstream text;
        text << in.rdbuf();
        auto root = sluice::parse_json(text.str()).as_object();
        cases out;
        for (const auto& q : root.at("queries").as_array()) out.filters.push_back(sluice::json::filter::compile(q));
        out.docs = root.at("docs").as_array();
        return out;
    }();
    return c;
}

void BM_FilterMix(benchmark::State& state) {
    const auto& c = load();
    std::size_t matches = 0;
    for (auto _ : state) {
        for (const auto& f : c.filters) {
            for (const auto& d : c.docs) matches += f.matches(d);
        }
    }
    benchmark::DoNotOptimize(matches);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * c.filters.size() * c.docs.size()));
}
BENCHMARK(BM_FilterMix);

void BM_FilterCompile(benchmark::State& state) {
    const char* query = R"({"status":{"$in":["open","review"]},"priority":{"$gte":3},"title":{"$regex":"^Task"}})";
    auto parsed = sluice::parse_json(query);
    for (auto _ : state) benchmark::DoNotOptimize(sluice::json::filter::compile(parsed));
}
BENCHMARK(BM_FilterCompile);

}  // namespace
