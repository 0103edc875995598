// Figures (printed, not asserted: this machine is shared) of confirmed publishing and of consuming
// with settlements that publish downstream; what is asserted is that every message arrived.
#include <atomic>
#include <sluice/queue/queue.hpp>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using namespace sluice::queue;
using sluice::testing::eventually;
using sluice::testing::options;
using sluice::testing::unique_queue;

double per_second(std::size_t n, std::chrono::steady_clock::duration d) {
    return static_cast<double>(n) / std::chrono::duration<double>(d).count();
}

TEST(RabbitmqThroughput, ConfirmedPublishesAndSettlementsWithDownstreamPublishes) {
    auto a = unique_queue("tp-a"), b = unique_queue("tp-b");
    auto q = sluice::amqp::open_rabbitmq(options({a, b}, 4));
    const std::string body(200, 'x');

    // 1. Batches of 500 from one thread.
    constexpr std::size_t batches = 20, batch_size = 500;
    auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < batches; ++i) {
        std::vector<outgoing> batch;
        for (std::size_t j = 0; j < batch_size; ++j)
            batch.push_back({a, "doc-" + std::to_string(j % 100), {}, body});
        q->publish_and_wait(std::move(batch));
    }
    auto batched = per_second(batches * batch_size, std::chrono::steady_clock::now() - t0);

    // 2. One message per publish_and_wait from 8 threads: the publisher thread batches the confirm waits.
    constexpr std::size_t threads = 8, each = 250;
    t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (std::size_t t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            try {
                for (std::size_t i = 0; i < each; ++i)
                    q->publish_and_wait({{a, "doc-" + std::to_string(t), {}, body}});
            } catch (const std::exception& e) {
                ADD_FAILURE() << "publish failed: " << e.what();
            }
        });
    }
    for (auto& w : workers) w.join();
    auto single = per_second(threads * each, std::chrono::steady_clock::now() - t0);
    const std::size_t total = batches * batch_size + threads * each;
    EXPECT_EQ(q->stats(a).ready, total);

    // 3. Consume a, settle each with one publish to b (confirmed before the ack).
    auto c = q->consume(a, 256);
    std::size_t moved = 0;
    t0 = std::chrono::steady_clock::now();
    auto deadline = t0 + 120s;
    while (moved < total && std::chrono::steady_clock::now() < deadline) {
        auto got = c->fetch(128, 100ms);
        std::vector<settlement> s;
        for (const auto& m : got)
            s.push_back({m.id, settlement::verdict::ack, {{b, m.key, {m.headers.op, 1}, m.body}}, {}});
        if (s.empty()) continue;
        std::promise<void> done;
        c->settle(std::move(s), [&](std::exception_ptr e) { e ? done.set_exception(e) : done.set_value(); });
        done.get_future().get();
        moved += got.size();
    }
    auto settled = per_second(moved, std::chrono::steady_clock::now() - t0);
    EXPECT_EQ(moved, total);
    EXPECT_TRUE(eventually([&] { return q->stats(b).ready == total && q->stats(a).ready == 0; }));
    std::cerr << "confirmed publishes, batches of 500: " << static_cast<long>(batched)
              << " msg/s; one per call from 8 threads: " << static_cast<long>(single)
              << " msg/s; consume + settle with a downstream publish (batches <= 128): "
              << static_cast<long>(settled) << " msg/s (200-byte bodies, 4 partitions)\n";
}

}  // namespace
