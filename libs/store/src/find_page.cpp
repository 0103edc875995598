#include <sluice/json/value.hpp>
#include <sluice/store/find_page.hpp>

#include <algorithm>
#include <cmath>

namespace sluice::store {

namespace bj = boost::json;

bool exact_in_sql(double x) noexcept {
    return std::fabs(x) < 9007199254740992.0;
}

bool exact_in_sql(const bj::value& v) noexcept {
    if (v.is_int64()) return exact_in_sql(static_cast<double>(v.get_int64()));
    if (v.is_uint64()) return v.get_uint64() < (std::uint64_t(1) << 53);
    if (v.is_double()) return exact_in_sql(v.get_double());
    return true;
}

namespace {

/// The first value at `path` as the filter language reaches it (null when missing).
bj::value first_value(const bj::object& doc, const json::field_path& path) {
    const bj::value* found = nullptr;
    bj::value root(doc);
    json::any_value(&root, path.segments(), [&](const bj::value* v) {
        found = v;
        return true;
    });
    return found ? *found : bj::value(nullptr);
}

}  // namespace

find_page::find_page(const find_options& options) : options_(options), keep_(options.offset + options.limit) {
    for (const auto& [field, direction] : options.sort) paths_.emplace_back(field);
}

bool find_page::before(const sortable& a, const sortable& b) const {
    for (std::size_t i = 0; i < paths_.size(); ++i) {
        int c = json::compare(a.keys[i], b.keys[i]);
        if (c != 0) return options_.sort[i].second < 0 ? c > 0 : c < 0;
    }
    return a.position < b.position;  // stable: storage order breaks ties
}

bool find_page::offer(bj::object doc) {
    if (paths_.empty()) {
        if (out_.size() >= options_.limit) return false;
        if (skipped_ < options_.offset) {
            ++skipped_;
            return true;
        }
        out_.push_back(std::move(doc));
        return out_.size() < options_.limit;
    }
    if (keep_ == 0) return false;
    auto less = [this](const sortable& a, const sortable& b) { return before(a, b); };
    sortable item{{}, position_++, std::move(doc)};
    for (const auto& p : paths_) item.keys.push_back(first_value(item.doc, p));
    if (best_.size() == keep_ && !before(item, best_.front())) return true;
    best_.push_back(std::move(item));
    std::push_heap(best_.begin(), best_.end(), less);
    if (best_.size() > keep_) {
        std::pop_heap(best_.begin(), best_.end(), less);
        best_.pop_back();
    }
    return true;
}

std::vector<bj::object> find_page::take() {
    if (paths_.empty()) return std::move(out_);
    std::sort_heap(best_.begin(), best_.end(),
                   [this](const sortable& a, const sortable& b) { return before(a, b); });
    std::vector<bj::object> out;
    for (std::size_t k = options_.offset; k < best_.size(); ++k) out.push_back(std::move(best_[k].doc));
    return out;
}

}  // namespace sluice::store
