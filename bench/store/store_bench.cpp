// apply_batch throughput of the two stores on the same changes: SQLite (embedded) and
// PostgreSQL (distributed; needs SLUICE_TEST_POSTGRES_URL, see run.sh). Each iteration applies
// one batch: half creates of new documents, half `incr` updates of the documents just created.
#include <sluice/core/ids.hpp>
#include <sluice/pg/store.hpp>
#include <sluice/store/store.hpp>

#include <benchmark/benchmark.h>
#include <boost/json/object.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace {

namespace bj = boost::json;
using sluice::store::write_request;

write_request change(std::int64_t i) {
    write_request r;
    r.op = "bench-" + std::to_string(::getpid()) + "-" + std::to_string(i);
    r.app = "bench";
    r.model = "task";
    r.actor = "u1";
    r.ts = sluice::now_ms();
    if (i % 2 == 0) {
        r.type = write_request::kind::create;
        r.id = "t" + std::to_string(i);
        r.body = bj::object{
            {"title", "a task of some length"}, {"status", "open"}, {"n", 0}, {"tags", bj::array{"a", "b"}}};
    } else {
        r.type = write_request::kind::update;
        r.id = "t" + std::to_string(i - 1);
        r.patch = bj::array{bj::object{{"op", "incr"}, {"path", "/n"}, {"value", 1}}};
    }
    return r;
}

void run(benchmark::State& state, sluice::store::store& store) {
    const auto batch_size = static_cast<std::int64_t>(state.range(0));
    // Each batch takes its own range of documents (threads share the counter), so an update
    // refers to a create of its own batch (batches of one are creates only).
    static std::atomic<std::int64_t> next{0};
    for (auto _ : state) {
        state.PauseTiming();
        std::int64_t first = next.fetch_add(batch_size + batch_size % 2);
        std::vector<write_request> batch;
        for (std::int64_t k = 0; k < batch_size; ++k) batch.push_back(change(first + k));
        state.ResumeTiming();
        auto results = store.apply_batch(batch);
        if (std::any_of(results.begin(), results.end(), [](const auto& r) { return !r.change; })) {
            state.SkipWithError("a change failed");
            break;
        }
    }
    state.SetItemsProcessed(state.iterations() * batch_size);
}

void BM_ApplyBatch_Sqlite(benchmark::State& state) {
    auto file =
        std::filesystem::temp_directory_path() / ("sluice_store_bench_" + std::to_string(::getpid()) + ".db");
    {
        auto store = sluice::store::open_sqlite(file);
        run(state, *store);
    }
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(file.string() + suffix);
}

void BM_ApplyBatch_Postgres(benchmark::State& state) {
    const char* url = std::getenv("SLUICE_TEST_POSTGRES_URL");
    if (url == nullptr) {
        state.SkipWithError(
            "SLUICE_TEST_POSTGRES_URL is not set (run under scripts/servers/with-postgres.sh)");
        return;
    }
    auto store = sluice::pg::open_postgres({.url = url});
    run(state, *store);
}

BENCHMARK(BM_ApplyBatch_Sqlite)->Arg(1)->Arg(16)->Arg(64)->UseRealTime();
BENCHMARK(BM_ApplyBatch_Postgres)->Arg(1)->Arg(16)->Arg(64)->UseRealTime();
// Several writers at once (each thread its own store and connections, as writer processes).
BENCHMARK(BM_ApplyBatch_Postgres)->Arg(16)->Threads(2)->Threads(4)->UseRealTime();

}  // namespace
