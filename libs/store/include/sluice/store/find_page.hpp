#pragma once
/// What every `store::find` implementation shares once its database has narrowed the candidates:
/// the page of matching documents (offset, limit, sort by the filter language's order), and which
/// numbers a database may compare on the filter's behalf.
#include <sluice/json/path.hpp>
#include <sluice/store/store.hpp>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <vector>

namespace sluice::store {

/// True when SQL comparing this number exactly gives the filter's answer: a number within ±2^53.
/// Beyond it a double bound (9007199254740993 read as 9007199254740992.0) or a double's shortest
/// decimal form can differ from the value the filter compares, and SQL would drop documents the
/// filter matches; such conditions are left to the filter. Non-numbers are always true.
bool exact_in_sql(const boost::json::value& v) noexcept;
bool exact_in_sql(double x) noexcept;

/// The page `options` asks for, from documents offered in storage order (each already known to
/// match the filter). Without a sort: skips `offset`, keeps `limit`. With one: keeps the best
/// offset+limit seen so far in a bounded heap (ties in storage order), MongoDB's order of values.
class find_page {
  public:
    explicit find_page(const find_options& options);
    /// Offers the next matching document. False when the page is complete and no later document
    /// could change it (unsorted and full): the caller may stop reading.
    bool offer(boost::json::object doc);
    /// The page, in order.
    std::vector<boost::json::object> take();

  private:
    struct sortable {
        std::vector<boost::json::value> keys;
        std::size_t position;
        boost::json::object doc;
    };
    bool before(const sortable& a, const sortable& b) const;

    const find_options& options_;
    std::vector<json::field_path> paths_;
    std::size_t keep_, skipped_ = 0, position_ = 0;
    std::vector<sortable> best_;
    std::vector<boost::json::object> out_;
};

}  // namespace sluice::store
