// `kind = "webhook"` stages: an HTTP POST per message, on a keep-alive connection per instance.
#include <sluice/callout/http_client.hpp>
#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/pipeline/stages.hpp>

#include <charconv>

namespace sluice::pipeline {

namespace {

/// Seconds of a `Retry-After` header (the delta form; an HTTP date is ignored).
std::chrono::milliseconds retry_after(std::string_view header) {
    unsigned seconds = 0;
    auto [end, ec] = std::from_chars(header.data(), header.data() + header.size(), seconds);
    if (ec != std::errc() || end != header.data() + header.size()) return {};
    return std::chrono::seconds(seconds);
}

class webhook_stage final : public stage {
public:
    explicit webhook_stage(const config::stage_config& c) : config_(c), client_(c.url) {}

    std::vector<outcome> handle(const std::vector<queue::message>& batch) override {
        std::vector<outcome> outcomes;
        for (const auto& m : batch) outcomes.push_back(handle_one(m));
        return outcomes;
    }

    void stop() override { client_.close(); }

private:
    outcome handle_one(const queue::message& m) {
        callout::http_client::response res;
        try {
            res = client_.post(m.body, {{"Sluice-Stage", config_.name}, {"Sluice-Attempt", std::to_string(m.attempt)}, {"Sluice-Op", m.headers.op}},
                               config_.timeout);
        } catch (const callout::failure& e) {
            return outcome::retry(e.what());
        }
        auto status = res.status;
        if (status >= 200 && status < 300) {
            if (res.body.find_first_not_of(" \t\r\n") == std::string::npos) return outcome::forward(m.body);
            try {
                return reply::from_json(parse_json(res.body, "webhook reply")).to_outcome(m.body);
            } catch (const std::exception& e) {
                return outcome::retry(std::string("webhook answered ") + std::to_string(status) + " with " + e.what());
            }
        }
        std::string what = "HTTP " + std::to_string(status) + ": " + res.body.substr(0, 200);
        if (status == 408 || status == 429 || status >= 500) return outcome::retry(what, retry_after(res.retry_after));
        return outcome::dead(what);
    }

    const config::stage_config& config_;
    callout::http_client client_;
};

}  // namespace

stage_factory make_webhook_stage(const config::stage_config& c) {
    if (auto problem = callout::url_problem(c.url); !problem.empty())  // a bad URL stops start-up
        throw config::config_error("config key 'stages." + c.name + ".url': " + problem);
    return [&c](std::size_t) { return std::make_unique<webhook_stage>(c); };
}

}  // namespace sluice::pipeline
