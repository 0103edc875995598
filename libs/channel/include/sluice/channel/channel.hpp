#pragma once
/// Channels (DESIGN.md §3): the four subscription patterns a change matches,
///
///   app:A:model:M   app:A:model:M:id:I   app:A:user:U:model:M   app:A:user:U:model:M:id:I
///
/// and filtered subscriptions, each a channel of its own: the pattern followed by `:filter:F`,
/// where F is `filter_id` of the filter. Every name is escaped (`%` → `%25`, `:` → `%3A`) so that
/// a `:` in an id or user cannot make two channels collide; `parse(c.to_string()) == c` for every
/// channel.
#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::channel {

struct channel {
    std::string app;
    std::string model;
    std::optional<std::string> user;  ///< the owner of the documents (user-scoped channels)
    std::optional<std::string> id;    ///< one document
    std::optional<std::string> filter = std::nullopt;  ///< `filter_id` of a filtered subscription

    /// The channel name, with `:filter:F` when filtered. Throws `invalid_input` (code
    /// `invalid_channel`) on an empty app or model or a malformed filter id.
    std::string to_string() const;
    /// The name of the pattern alone (without `:filter:F`): what changes are published on.
    std::string pattern() const;
    /// Throws `invalid_input` (code `invalid_channel`) naming what is wrong with `text`; a filter
    /// id must be 16 lower-case hex digits.
    static channel parse(std::string_view text);

    friend bool operator==(const channel&, const channel&) = default;
};

/// The id of a filter in channel names: the first 16 lower-case hex digits of the SHA-256 of
/// `json::canonical_json(filter)` (keys sorted recursively, no white space). Equal filters written
/// with their keys in another order get the same id.
std::string filter_id(const boost::json::value& filter);

/// The identity of a changed document.
struct change_key {
    std::string_view app, model, id, owner;  ///< owner may be empty (no user channels)
};

/// The names of the channels a change to `key` is published on: model, document, and (when it has
/// an owner) the owner's model and document channels. Cheap: one string each.
std::vector<std::string> channels_for(const change_key& key);

/// Escapes one name for use inside a channel.
std::string escape(std::string_view name);

}  // namespace sluice::channel
