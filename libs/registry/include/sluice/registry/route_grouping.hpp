#pragma once
/// For implementations of `registry::find`: turns the index's matches (one per subscription) into
/// routes (one per device and kind, with every channel of the device that the change reached with
/// that kind), at O(1) per match however many subscriptions a device holds.
#include <sluice/registry/registry.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice::registry {

/// Kept in each device's state by the implementation, for `route_grouping`.
struct route_slots {
    std::uint64_t epoch = 0;             ///< the last grouping that reached the device
    std::array<std::size_t, 5> route{};  ///< per change_kind: 1 + its index in the output, or 0
};

class route_grouping {
public:
    /// Appends to `out` the routes of `matches`; `held(id)` gives the `route_slots&` of the
    /// matched subscription's device and the `const subscription&` itself, as a pair.
    template <class Held>
    void group(const std::vector<match>& matches, Held&& held, std::vector<route>& out) {
        ++epoch_;
        for (const auto& m : matches) {
            auto [slots, sub] = held(m.id);
            if (slots.epoch != epoch_) {
                slots.epoch = epoch_;
                slots.route.fill(0);
            }
            auto& slot = slots.route[static_cast<std::size_t>(m.kind)];
            if (slot == 0) {
                out.push_back({sub.device, m.kind, {}});
                slot = out.size();
            }
            out[slot - 1].channels.push_back(sub.channel);
        }
    }

private:
    std::uint64_t epoch_ = 0;
};

}  // namespace sluice::registry
