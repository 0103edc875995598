#pragma once
/// Channels (DESIGN.md §3): the four subscription patterns a change matches.
///
///   app:A:model:M   app:A:model:M:id:I   app:A:user:U:model:M   app:A:user:U:model:M:id:I
///
/// Every name is escaped (`%` → `%25`, `:` → `%3A`) so that a `:` in an id or user cannot make two
/// channels collide; `parse(format(c)) == c` for every channel.
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

    /// The channel name. Throws `invalid_input` (code `invalid_channel`) on an empty app or model.
    std::string to_string() const;
    /// Throws `invalid_input` (code `invalid_channel`) naming what is wrong with `text`.
    static channel parse(std::string_view text);

    friend bool operator==(const channel&, const channel&) = default;
};

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
