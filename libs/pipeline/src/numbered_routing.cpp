#include "numbered_routing.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <map>
#include <unordered_map>

namespace sluice::pipeline {

namespace bj = boost::json;

void numbered_routing::add(std::size_t index, const bj::value& op, std::vector<device_log::frame> frames) {
    if (op_.size() <= index) op_.resize(index + 1);
    op_[index] = op;
    for (auto& f : frames) {
        frames_.push_back(std::move(f));
        message_.push_back(index);
    }
}

void numbered_routing::route(std::vector<outcome>& outcomes) {
    // Forgotten also when this throws: the batch comes again and adds them again.
    auto frames = std::move(frames_);
    auto message_of = std::move(message_);
    auto op = std::move(op_);
    frames_.clear();
    message_.clear();
    op_.clear();
    if (frames.empty()) return;
    auto seqs = streams_.log->append(frames);
    std::vector<std::string> devices;
    std::unordered_map<std::string_view, std::size_t> index;
    for (const auto& f : frames) {
        for (const auto& d : f.devices) {
            if (index.emplace(d, devices.size()).second) devices.push_back(d);
        }
    }
    auto where = streams_.directory->locate(devices);
    for (std::size_t f = 0; f < frames.size();) {
        const auto message = message_of[f];
        std::map<std::string, bj::array> per_instance;
        for (; f < frames.size() && message_of[f] == message; ++f) {
            std::map<std::string, bj::array> targets;
            for (std::size_t i = 0; i < frames[f].devices.size(); ++i) {
                const auto& instance = where[index.at(frames[f].devices[i])];
                if (!instance.empty()) targets[instance].push_back(bj::array{bj::value(frames[f].devices[i]), seqs[f][i]});
            }
            for (auto& [instance, list] : targets) {
                per_instance[instance].push_back(bj::object{{"head", frames[f].head}, {"targets", std::move(list)}});
            }
        }
        for (auto& [instance, deliveries] : per_instance) {
            outcomes[message].messages.push_back(
                {bj::serialize(bj::object{{"op", op[message]}, {"deliveries", std::move(deliveries)}}), {websocket_stage_}, {}, instance});
        }
    }
}

}  // namespace sluice::pipeline
