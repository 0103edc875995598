// `kind = "exec"` stages: one child process per instance, JSON Lines on its stdin/stdout.
#include <sluice/callout/child_process.hpp>
#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/pipeline/stages.hpp>

#include <spdlog/spdlog.h>

namespace sluice::pipeline {

namespace bj = boost::json;

namespace {

class exec_stage final : public stage {
public:
    exec_stage(const config::stage_config& c, std::size_t instance)
        : config_(c), child_("stage " + c.name + " #" + std::to_string(instance), c.command) {}

    std::vector<outcome> handle(const std::vector<queue::message>& batch) override {
        std::vector<outcome> outcomes;
        for (const auto& m : batch) outcomes.push_back(handle_one(m));
        return outcomes;
    }

    void stop() override { child_.stop(std::chrono::milliseconds(2000)); }

private:
    outcome handle_one(const queue::message& m) {
        bj::value message;
        try {
            message = parse_json(m.body, "message");
        } catch (const std::exception& e) {
            return outcome::dead(std::string("message is not JSON: ") + e.what());
        }
        try {
            auto answer = child_.call(bj::object{{"stage", config_.name}, {"attempt", m.attempt}, {"message", std::move(message)}}, config_.timeout);
            try {
                return reply::from_json(answer).to_outcome(m.body);
            } catch (const error& e) {  // not a reply: the child is confused, start it again
                spdlog::warn("stage {}: child wrote {}; restarting it", config_.name, e.what());
                child_.stop(std::chrono::milliseconds(0));
                return outcome::retry(std::string("child process wrote a bad reply: ") + e.what());
            }
        } catch (const callout::failure& e) {
            return outcome::retry(e.what());
        }
    }

    const config::stage_config& config_;
    callout::child_process child_;
};

}  // namespace

stage_factory make_exec_stage(const config::stage_config& c) {
    return [&c](std::size_t instance) { return std::make_unique<exec_stage>(c, instance); };
}

}  // namespace sluice::pipeline
