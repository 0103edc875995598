#pragma once
/// Model schemas (DESIGN.md §9): a JSON Schema (draft 7) compiled once, then validating documents.
///
/// ```cpp
/// auto s = schema::json_schema::load("schemas/task.json");   // at start-up: throws on a bad schema
/// s.check(document);  // throws error(schema_violation): "/title: ... 'type' ..." when it does not match
/// ```
#include <sluice/core/error.hpp>

#include <boost/json/value.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace sluice::schema {

/// Where a document breaks its schema.
struct violation {
    std::string pointer;  ///< JSON Pointer of the failing part ("" for the document itself)
    std::string keyword;  ///< the schema keyword it breaks (`maximum`, `required`, ...), or empty
    std::string rule;     ///< what the rule asks, as the validator words it
    /// `pointer: 'keyword': rule`, with `(the document)` for the empty pointer.
    std::string to_string() const;
};

/// Gives the document a `$ref` names by its URI (without fragment), or nullopt when there is none.
using resolver = std::function<std::optional<boost::json::value>(const std::string& uri)>;

class json_schema {
public:
    /// Compiles `schema` (draft 7; booleans included). Throws `invalid_input` (code
    /// `config_error`) naming the problem when it is not a schema valijson can compile.
    static json_schema compile(const boost::json::value& schema, const resolver& resolve = {});
    /// Reads and compiles a schema file. A `$ref` to another file (a relative URI, or `file://`)
    /// is read relative to this file's folder; other URIs are refused.
    static json_schema load(const std::filesystem::path& file);

    /// The most specific violation (the deepest failing part), or nullopt when `document` matches.
    /// Thread-safe.
    std::optional<violation> validate(const boost::json::value& document) const;
    /// Throws `error(errc::schema_violation, "<what> does not match its schema at <pointer>: <rule>")`.
    void check(const boost::json::value& document, const std::string& what) const;

private:
    struct compiled;
    std::shared_ptr<compiled> compiled_;
};

}  // namespace sluice::schema
