#include <sluice/json/value.hpp>
#include <sluice/registry/subscription_index.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace sluice::registry {

namespace bj = boost::json;

const char* event_name(change_kind kind) noexcept {
    switch (kind) {
        case change_kind::created: return "model_created";
        case change_kind::updated: return "model_updated";
        case change_kind::deleted: return "model_deleted";
        case change_kind::entered: return "model_entered";
        case change_kind::left: return "model_left";
    }
    return "";
}

namespace {

void erase_value(std::vector<std::uint32_t>& v, std::uint32_t slot) {
    auto it = std::find(v.begin(), v.end(), slot);
    if (it != v.end()) {
        *it = v.back();
        v.pop_back();
    }
}

template <class Map>
void erase_value(Map& m, double key, std::uint32_t slot) {
    auto [first, last] = m.equal_range(key);
    for (auto it = first; it != last; ++it) {
        if (it->second.slot == slot) {
            m.erase(it);
            return;
        }
    }
}

/// Calls fn on each scalar the path reaches, leaf arrays expanded, as the filter operators see them.
/// Returns how many values the path reached (an array counting as one).
template <class Fn>
std::size_t for_each_scalar(const bj::value& doc, const json::field_path& path, Fn&& fn) {
    std::size_t reached = 0;
    json::any_value(&doc, path.segments(), [&](const bj::value* v) {
        if (v == nullptr) return false;
        ++reached;
        if (const auto* a = v->if_array()) {
            ++reached;  // several values: a lone-number shortcut does not apply
            for (const auto& e : *a) {
                if (json::is_scalar(e)) fn(e);
            }
        } else {
            fn(*v);
        }
        return false;
    });
    return reached;
}

/// The number as a double, when that is exact.
bool exact_number(const bj::value& v, double& x) {
    if (v.is_double()) {
        x = v.get_double();
        return true;
    }
    if (v.is_int64() && v.get_int64() > -(std::int64_t(1) << 53) && v.get_int64() < (std::int64_t(1) << 53)) {
        x = static_cast<double>(v.get_int64());
        return true;
    }
    return false;
}

}  // namespace

void subscription_index::key_of(const bj::value& v, std::string& key) {
    key.clear();
    if (const auto* s = v.if_string()) {
        key += 's';
        key.append(s->data(), s->size());
    } else if (v.is_bool()) {
        key += v.get_bool() ? "b1" : "b0";
    } else if (v.is_number()) {
        // 1 and 1.0 are equal in filters, so numbers are keyed by their double value.
        double d = v.is_double() ? v.get_double() : static_cast<double>(json::number_of(v));
        if (d == 0) d = 0;  // -0.0 == 0.0
        char bytes[sizeof d];
        std::memcpy(bytes, &d, sizeof d);
        key += 'n';
        key.append(bytes, sizeof d);
    }
}

void subscription_index::add(subscription_id id, std::string channel, std::optional<json::filter> filter) {
    remove(id);
    std::uint32_t slot;
    if (!free_.empty()) {
        slot = free_.back();
        free_.pop_back();
    } else {
        slot = static_cast<std::uint32_t>(entries_.size());
        entries_.emplace_back();
        hot_.emplace_back();
    }
    entry& e = entries_[slot];
    e = entry{};
    e.id = id;
    e.channel = std::move(channel);
    e.filter = std::move(filter);
    hot_[slot] = hot{epoch_, id, 0, false};
    by_id_.emplace(id, slot);
    bucket& b = buckets_[e.channel];
    ++b.count;
    if (!e.filter) {
        b.unfiltered.push_back(slot);
    } else {
        index_filtered(b, slot);
    }
}

void subscription_index::index_filtered(bucket& b, std::uint32_t slot) {
    entry& e = entries_[slot];
    // Prefer the equality with fewest values, then a range; otherwise evaluate on every change.
    const json::field_constraint* best = nullptr;
    for (const auto& c : e.filter->constraints()) {
        if (c.type == json::field_constraint::kind::equals) {
            if (best == nullptr || best->type != c.type || c.values.size() < best->values.size()) best = &c;
        } else if (best == nullptr) {
            best = &c;
        }
    }
    if (best == nullptr) {
        e.where = entry::place::scan;
        b.scan.push_back(slot);
        return;
    }
    if (best->type == json::field_constraint::kind::equals) {
        auto it = std::find_if(b.equalities.begin(), b.equalities.end(),
                               [&](const equality_index& x) { return x.path.text() == best->path->text(); });
        if (it == b.equalities.end()) it = b.equalities.insert(b.equalities.end(), {*best->path, {}});
        e.where = entry::place::equals;
        e.path_slot = static_cast<std::size_t>(it - b.equalities.begin());
        // Strings and booleans are keyed exactly; numbers through doubles, which may collide.
        hot_[slot].exact = best->whole_filter && std::all_of(best->values.begin(), best->values.end(), [](const bj::value& v) {
            return v.is_string() || v.is_bool();
        });
        for (const auto& v : best->values) {
            key_of(v, key_);
            if (std::find(e.keys.begin(), e.keys.end(), key_) != e.keys.end()) continue;
            e.keys.push_back(key_);
            it->by_value[key_].push_back(slot);
        }
        return;
    }
    auto it = std::find_if(b.ranges.begin(), b.ranges.end(),
                           [&](const range_index& x) { return x.path.text() == best->path->text(); });
    if (it == b.ranges.end()) it = b.ranges.insert(b.ranges.end(), {*best->path, {}, {}, {}});
    e.path_slot = static_cast<std::size_t>(it - b.ranges.begin());
    hot_[slot].exact = best->whole_filter;
    range_entry r{slot, best->low, best->high, best->low_open, best->high_open};
    constexpr double infinity = std::numeric_limits<double>::infinity();
    if (best->low > -infinity && best->high < infinity) {
        e.where = entry::place::range_bounded;
        e.bound = best->low;
        double width = best->high - best->low;
        e.width_class = width > 0 ? std::ilogb(width) : std::numeric_limits<int>::min();
        it->bounded[e.width_class].emplace(e.bound, r);
    } else if (best->low > -infinity || best->high == infinity) {
        e.where = entry::place::range_low;
        e.bound = best->low;
        it->by_low.emplace(e.bound, r);
    } else {
        e.where = entry::place::range_high;
        e.bound = best->high;
        it->by_high.emplace(e.bound, r);
    }
}

bool subscription_index::remove(subscription_id id) {
    auto found = by_id_.find(id);
    if (found == by_id_.end()) return false;
    std::uint32_t slot = found->second;
    by_id_.erase(found);
    entry& e = entries_[slot];
    auto bit = buckets_.find(e.channel);
    bucket& b = bit->second;
    switch (e.where) {
        case entry::place::unfiltered: erase_value(b.unfiltered, slot); break;
        case entry::place::scan: erase_value(b.scan, slot); break;
        case entry::place::equals: {
            auto& index = b.equalities[e.path_slot];
            for (const auto& k : e.keys) {
                auto kit = index.by_value.find(k);
                erase_value(kit->second, slot);
                if (kit->second.empty()) index.by_value.erase(kit);
            }
            break;
        }
        case entry::place::range_low: erase_value(b.ranges[e.path_slot].by_low, e.bound, slot); break;
        case entry::place::range_high: erase_value(b.ranges[e.path_slot].by_high, e.bound, slot); break;
        case entry::place::range_bounded: {
            auto& classes = b.ranges[e.path_slot].bounded;
            auto cit = classes.find(e.width_class);
            erase_value(cit->second, e.bound, slot);
            if (cit->second.empty()) classes.erase(cit);
            break;
        }
    }
    if (--b.count == 0) buckets_.erase(bit);
    e = entry{};
    free_.push_back(slot);
    return true;
}

void subscription_index::reach(std::uint32_t slot, std::uint8_t flag) {
    hot& h = hot_[slot];
    if (h.seen != epoch_) {
        h.seen = epoch_;
        h.flags = 0;
        candidates_.push_back(slot);
    }
    h.flags |= h.exact ? flag : evaluate;
}

void subscription_index::resolve(std::uint32_t channel_index, const bj::value* before, const bj::value* after,
                                 std::vector<match>& out) {
    for (auto slot : candidates_) {
        const hot& h = hot_[slot];
        bool was, is;
        if (h.flags & evaluate) {
            const auto& f = entries_[slot].filter;
            was = before != nullptr && (!f || f->matches(*before));
            is = after != nullptr && (!f || f->matches(*after));
        } else {
            was = h.flags & matched_before;
            is = h.flags & matched_after;
        }
        change_kind kind;
        if (before == nullptr) {
            if (!is) continue;
            kind = change_kind::created;
        } else if (after == nullptr) {
            if (!was) continue;
            kind = change_kind::deleted;
        } else if (was && is) {
            kind = change_kind::updated;
        } else if (is) {
            kind = change_kind::entered;
        } else if (was) {
            kind = change_kind::left;
        } else {
            continue;
        }
        out.push_back({h.id, kind, channel_index});
    }
    candidates_.clear();
}

void subscription_index::find(std::span<const std::string> channels, const bj::value* before, const bj::value* after,
                              std::vector<match>& out) {
    ++epoch_;
    const bj::value* images[2] = {before, after};
    const std::uint8_t image_flags[2] = {matched_before, matched_after};
    for (std::uint32_t ci = 0; ci < channels.size(); ++ci) {
        auto bit = buckets_.find(channels[ci]);
        if (bit == buckets_.end()) continue;
        bucket& b = bit->second;
        for (auto slot : b.unfiltered) reach(slot, evaluate);
        for (auto slot : b.scan) reach(slot, evaluate);
        for (int image = 0; image < 2; ++image) {
            if (images[image] == nullptr) continue;
            for (const auto& index : b.equalities) {
                for_each_scalar(*images[image], index.path, [&](const bj::value& v) {
                    key_of(v, key_);
                    if (key_.empty()) return;
                    auto it = index.by_value.find(key_);
                    if (it == index.by_value.end()) return;
                    for (auto slot : it->second) reach(slot, image_flags[image]);
                });
            }
            for (const auto& index : b.ranges) {
                // With one exact number at the path, a filter that is only these bounds is decided
                // here, without evaluating it.
                const bj::value* lone = nullptr;
                std::size_t reached = for_each_scalar(*images[image], index.path, [&](const bj::value& v) { lone = &v; });
                double lone_x = 0;
                const bool decide = reached == 1 && lone != nullptr && exact_number(*lone, lone_x);
                auto consider = [&](const range_entry& r, double x) {
                    if (!hot_[r.slot].exact || !decide) return reach(r.slot, evaluate);
                    if (r.contains(x)) reach(r.slot, image_flags[image]);
                };
                double highest = -std::numeric_limits<double>::infinity();
                for_each_scalar(*images[image], index.path, [&](const bj::value& v) {
                    if (!v.is_number()) return;
                    double x = static_cast<double>(json::number_of(v));
                    highest = std::max(highest, x);
                    for (auto it = index.by_low.begin(), end = index.by_low.upper_bound(x); it != end; ++it)
                        consider(it->second, lone_x);
                    for (auto it = index.by_high.lower_bound(x); it != index.by_high.end(); ++it)
                        consider(it->second, lone_x);
                    if (reached != 1) return;
                    for (const auto& [width_class, by_low] : index.bounded) {
                        double reach_back = width_class == std::numeric_limits<int>::min() ? 0 : std::ldexp(1.0, width_class + 1);
                        for (auto it = by_low.lower_bound(x - reach_back), end = by_low.upper_bound(x); it != end; ++it)
                            consider(it->second, lone_x);
                    }
                });
                // Several values (an array): one may meet the lower bound and another the upper, so
                // every two-sided range with low <= the highest value is a candidate.
                if (reached != 1 && highest > -std::numeric_limits<double>::infinity()) {
                    for (const auto& [width_class, by_low] : index.bounded) {
                        for (auto it = by_low.begin(), end = by_low.upper_bound(highest); it != end; ++it)
                            reach(it->second.slot, evaluate);
                    }
                }
            }
        }
        resolve(ci, before, after, out);
    }
}

}  // namespace sluice::registry
