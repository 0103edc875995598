#include <algorithm>
#include <sluice/amqp/broker.hpp>
#include <sluice/core/error.hpp>
#include <unordered_map>

#include "connection.hpp"
#include "topology.hpp"

namespace sluice::amqp {

namespace {

using namespace detail;

queue::dead_letter to_dead_letter(const std::string& stage, const received& r) {
    queue::dead_letter d;
    d.queue = stage;
    d.id = static_cast<std::uint64_t>(r.int_header(dead_id_header));
    d.key = r.string_header(key_header);
    d.headers.op = r.string_header(op_header);
    d.headers.hops = static_cast<std::uint32_t>(r.int_header(hops_header));
    d.body = r.body;
    d.reason = r.string_header(reason_header);
    d.at = r.int_header(dead_at_header);
    return d;
}

class rabbitmq_admin final : public queue::dead_letter_admin {
  public:
    explicit rabbitmq_admin(rabbitmq_options options)
        : options_(std::move(options)), where_(parse_url(options_.url)) {
        options_.partitions = std::max<std::size_t>(options_.partitions, 1);
    }

    std::vector<queue::dead_letter> list(const std::string& queue) override {
        std::vector<queue::dead_letter> out;
        for (const auto& stage : queue.empty() ? options_.queues : std::vector<std::string>{queue}) {
            connection c(where_, options_.timeout, options_.heartbeat);
            c.declare(dead_letter_queue(stage), false);
            auto all = browse(c, dead_letter_queue(stage));
            give_back(c, dead_letter_queue(stage), all.size(), options_.timeout);
            for (const auto& r : all) {
                if (!is_marker(r)) out.push_back(to_dead_letter(stage, r));
            }
        }
        std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.at < b.at; });
        return out;
    }

    queue::replay_report replay(const std::string& queue, const std::vector<std::uint64_t>& ids) override {
        queue::replay_report report;
        connection c(where_, options_.timeout, options_.heartbeat);
        c.confirm_select();
        declare_stage(c, queue, options_);
        auto all = browse(c, dead_letter_queue(queue));

        // A dead letter is overtaken when a marker of its key follows it.
        std::vector<bool> overtaken(all.size(), false);
        std::unordered_map<std::string, bool> marker_after;  // key -> a marker seen (scanning backwards)
        for (std::size_t i = all.size(); i-- > 0;) {
            auto key = all[i].string_header(key_header);
            if (key.empty()) continue;
            if (is_marker(all[i])) {
                marker_after[key] = true;
            } else {
                overtaken[i] = marker_after[key];
            }
        }

        std::vector<std::uint64_t> to_ack;
        std::unordered_map<std::string, bool> left_dead;  // key -> an earlier dead letter stays
        std::uint64_t last = 0;
        for (std::size_t i = 0; i < all.size(); ++i) {
            const auto& r = all[i];
            auto key = r.string_header(key_header);
            if (is_marker(r)) {
                if (!left_dead[key]) to_ack.push_back(r.tag);  // follows no dead letter any more
                continue;
            }
            auto d = to_dead_letter(queue, r);
            bool chosen = ids.empty() || std::find(ids.begin(), ids.end(), d.id) != ids.end();
            if (!chosen) {
                if (!key.empty()) left_dead[key] = true;
                continue;
            }
            if (overtaken[i]) {
                report.refused.emplace_back(
                    d.id, "a newer message for the same document (key " + d.key + ") was processed in " + queue +
                              " after it: replaying it would apply an older change over newer ones");
                if (!key.empty()) left_dead[key] = true;
                continue;
            }
            last = c.publish(to_wire({queue, d.key, d.headers, d.body}, options_.partitions));
            to_ack.push_back(r.tag);
            report.replayed.push_back(d.id);
        }
        if (last) c.wait_confirms(last, std::chrono::steady_clock::now() + options_.timeout);
        for (auto tag : to_ack) c.ack(tag);
        give_back(c, dead_letter_queue(queue), all.size() - to_ack.size(), options_.timeout);
        return report;
    }

  private:
    rabbitmq_options options_;
    endpoint where_;
};

}  // namespace

std::unique_ptr<queue::dead_letter_admin> open_rabbitmq_admin(rabbitmq_options options) {
    return std::make_unique<rabbitmq_admin>(std::move(options));
}

}  // namespace sluice::amqp
