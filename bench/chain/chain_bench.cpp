// A chain of three trivial `kind = "cpp"` stages (a -> b -> c) on the embedded queue, the way
// `sluice serve` runs custom stages: jobs/s from the first publish until stage c has settled every
// job. The peer is BullMQ running the same chain on a local Redis (bullmq_chain.js, run.sh).
//
//   chain_bench --jobs N --data DIR [--instances K]
//
// Prints one JSON line: {"peer":"sluice","jobs":N,"instances":K,"seconds":S,"jobs_per_second":R}.
#include <sluice/core/health.hpp>
#include <sluice/metrics/metrics.hpp>
#include <sluice/pipeline/stage_runner.hpp>
#include <sluice/pipeline/stages.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>

using namespace sluice;

int main(int argc, char** argv) {
    std::size_t jobs = 20000, instances = 4;
    std::string data;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string flag = argv[i];
        if (flag == "--jobs") jobs = std::stoul(argv[i + 1]);
        else if (flag == "--instances") instances = std::stoul(argv[i + 1]);
        else if (flag == "--data") data = argv[i + 1];
    }
    if (data.empty()) {
        std::fprintf(stderr, "usage: chain_bench --jobs N --data DIR [--instances K]\n");
        return 2;
    }
    std::filesystem::remove_all(data);
    std::filesystem::create_directories(data);

    std::mutex mutex;
    std::condition_variable finished;
    std::size_t done = 0;
    pipeline::register_stage("forward", [](const pipeline::stage_request&) { return pipeline::reply{}; });
    pipeline::register_stage("finish", [&](const pipeline::stage_request&) {
        {
            std::lock_guard lock(mutex);
            if (++done == jobs) finished.notify_all();
        }
        pipeline::reply r;
        r.what = pipeline::reply::action::done;
        return r;
    });

    config::graph_config graph;
    for (auto [name, next, function] : {std::tuple{"a", "b", "forward"}, {"b", "c", "forward"}, {"c", "", "finish"}}) {
        auto& s = graph.stages[name];
        s.name = name;
        s.kind = config::stage_kind::cpp;
        s.function = function;
        s.instances = instances;
        if (*next) s.next = {next};
    }
    auto queue = queue::open_embedded((std::filesystem::path(data) / "queue.db").string());
    metrics::metrics metrics;
    health h;
    std::vector<std::unique_ptr<pipeline::stage_runner>> runners;
    for (const auto* name : {"a", "b", "c"}) {
        runners.push_back(std::make_unique<pipeline::stage_runner>(queue, graph, name, 32, pipeline::make_cpp_stage(graph.stage(name)),
                                                                   metrics, h));
        runners.back()->start();
    }

    const auto start = std::chrono::steady_clock::now();
    for (std::size_t first = 0; first < jobs; first += 1000) {
        std::vector<queue::outgoing> batch;
        for (std::size_t n = first; n < std::min(jobs, first + 1000); ++n) {
            auto body = "{\"n\":" + std::to_string(n) + "}";
            batch.push_back({"a", "job-" + std::to_string(n), {"op-" + std::to_string(n), 0}, body});
        }
        queue->publish(std::move(batch), [](std::exception_ptr failure) {
            if (failure) std::abort();  // a benchmark on a local file: nothing to recover
        });
    }
    {
        std::unique_lock lock(mutex);
        if (!finished.wait_for(lock, std::chrono::minutes(10), [&] { return done >= jobs; })) {
            std::fprintf(stderr, "chain_bench: only %zu of %zu jobs finished in 10 minutes\n", done, jobs);
            return 1;
        }
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (auto& r : runners) r->stop();
    queue->stop();
    std::printf("{\"peer\":\"sluice\",\"jobs\":%zu,\"instances\":%zu,\"seconds\":%.3f,\"jobs_per_second\":%.1f}\n", jobs, instances, seconds,
                jobs / seconds);
    return 0;
}
