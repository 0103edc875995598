#define VALIJSON_USE_EXCEPTIONS 1
#include <valijson/adapters/boost_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <fstream>
#include <map>
#include <mutex>
#include <sluice/json/pointer.hpp>
#include <sluice/schema/json_schema.hpp>
#include <sstream>

#include "draft7_metaschema.hpp"

namespace sluice::schema {

namespace bj = boost::json;

struct json_schema::compiled {
    bj::value source;  // valijson's schema may refer to it
    valijson::Schema schema;
    std::mutex mutex;  // the validator caches compiled regexes as it goes
    valijson::Validator validator{valijson::Validator::kStrongTypes};
};

namespace {

/// valijson's context (`<root>`, `[name]`, `[0]`) as a JSON Pointer.
std::string pointer_of(const std::vector<std::string>& context) {
    json::pointer at;
    for (const auto& part : context) {
        if (part == "<root>" || part.size() < 2 || part.front() != '[' || part.back() != ']') continue;
        at = at.child(part.substr(1, part.size() - 2));
    }
    return at.to_string();
}

/// The keyword behind each of valijson's error descriptions (it words them without naming every
/// keyword); longer prefixes before the shorter ones they start with.
std::string keyword_of(std::string_view description) {
    static constexpr std::pair<std::string_view, std::string_view> table[] = {
        {"Value type not permitted", "type"},
        {"Missing required property", "required"},
        {"Expected number less than or equal to", "maximum"},
        {"Expected number less than", "exclusiveMaximum"},
        {"Expected number greater than or equal to", "minimum"},
        {"Expected number greater than", "exclusiveMinimum"},
        {"String should be no more than", "maxLength"},
        {"String should be no fewer than", "minLength"},
        {"String should be a valid", "format"},
        {"Array should contain no more than", "maxItems"},
        {"Array should contain no fewer than", "minItems"},
        {"Object should have no more than", "maxProperties"},
        {"Object should have no fewer than", "minProperties"},
        {"Value should be a multiple of", "multipleOf"},
        {"Value could not be converted", "multipleOf"},
        {"Failed to match regex", "pattern"},
        {"Object contains a property that could not be validated", "additionalProperties"},
        {"Failed to validate against additional properties schema", "additionalProperties"},
        {"Failed to match against any enum values", "enum"},
        {"Failed to match expected value set by 'const'", "const"},
        {"Elements at indexes", "uniqueItems"},
        {"Target should not validate", "not"},
        {"Failed to validate against any child schemas allowed by oneOf", "oneOf"},
        {"Failed to validate against exactly one child schema", "oneOf"},
        {"Failed to validate against any schemas allowed by anyOf", "anyOf"},
        {"Failed to validate against child schema #", "allOf"},
        {"Failed to validate against a conditional schema", "if"},
        {"Missing dependency", "dependencies"},
        {"Failed to validate against dependent schema", "dependencies"},
        {"Failed to validate against schema associated with property name", "propertyNames"},
        {"Failed to any values against subschema in 'contains'", "contains"},
        {"Array contains more items than allowed", "additionalItems"},
        {"Cannot validate item #", "additionalItems"},
        {"Target value and comparison value are not equal", "const"},
    };
    for (const auto& [prefix, keyword] : table) {
        if (description.starts_with(prefix)) return std::string(keyword);
    }
    return {};
}

/// valijson writes numbers with std::to_string: "10.000000" reads "10".
std::string tidy(std::string text) {
    for (auto at = text.find(".000000"); at != std::string::npos; at = text.find(".000000", at)) text.erase(at, 7);
    return text;
}

std::string read_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw invalid_input(errc::config_error, "cannot read schema file '" + file.string() + "'");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

bj::value parse_file(const std::filesystem::path& file) {
    boost::system::error_code ec;
    auto v = bj::parse(read_file(file), ec);
    if (ec) throw invalid_input(errc::config_error, "schema file '" + file.string() + "' is not JSON: " + ec.message());
    return v;
}

/// Resolves `$ref`s to other documents as the specification says, which valijson leaves to its
/// fetcher: against the base URI in force (`$id`), and to subschemas of the same document that an
/// `$id` names. `prepare` rewrites such refs to absolute URIs and remembers the `$id`s; `fetch`
/// then serves a URI from those, the draft-07 meta-schema, or the caller's resolver.
class references {
public:
    explicit references(const resolver& outer) : outer_(outer) {}

    void prepare(bj::value& schema, const std::string& base) {
        boost::urls::url root;
        if (auto parsed = boost::urls::parse_uri_reference(base); parsed && parsed->has_scheme()) root = *parsed;
        walk(schema, root);
    }

    const bj::value* fetch(const std::string& uri) {
        const auto key = without_fragment(uri);
        if (auto it = by_id_.find(key); it != by_id_.end()) return new bj::value(it->second);
        std::optional<bj::value> doc;
        if (key == "http://json-schema.org/draft-07/schema") {
            doc = bj::parse(detail::draft7_metaschema);
        } else if (outer_) {
            doc = outer_(key);
        }
        if (!doc) return nullptr;
        prepare(*doc, key);
        return new bj::value(std::move(*doc));
    }

private:
    static std::string without_fragment(std::string_view uri) {
        auto hash = uri.find('#');
        return std::string(hash == std::string_view::npos ? uri : uri.substr(0, hash));
    }

    static boost::urls::url resolve(const boost::urls::url& base, std::string_view reference) {
        auto ref = boost::urls::parse_uri_reference(reference);
        if (!ref) return boost::urls::url(reference.empty() ? std::string_view("#") : reference);
        if (base.empty() || ref->has_scheme()) return boost::urls::url(*ref);
        boost::urls::url out;
        if (boost::urls::resolve(base, *ref, out)) return out;
        return boost::urls::url(*ref);
    }

    void walk(bj::value& v, boost::urls::url base) {
        if (v.is_array()) {
            for (auto& e : v.get_array()) walk(e, base);
            return;
        }
        if (!v.is_object()) return;
        auto& o = v.get_object();
        bool named = false;
        if (const auto* id = o.if_contains("$id"); id && id->is_string() && !id->get_string().starts_with("#")) {
            base = resolve(base, id->get_string());
            named = base.has_scheme();
        }
        if (auto* ref = o.if_contains("$ref"); ref && ref->is_string() && !ref->get_string().starts_with("#")) {
            auto target = resolve(base, ref->get_string());
            if (target.has_scheme()) *ref = bj::string(target.buffer());
        }
        for (auto& [key, child] : o) {
            // Values of these keywords are data, not schemas: nothing in them is an `$id` or a `$ref`.
            if (key != "enum" && key != "const" && key != "default" && key != "examples") walk(child, base);
        }
        if (named) by_id_.emplace(without_fragment(base.buffer()), v);
    }

    const resolver& outer_;
    std::map<std::string, bj::value> by_id_;
};

}  // namespace

std::string violation::to_string() const {
    return (pointer.empty() ? std::string("(the document)") : pointer) + ": " + (keyword.empty() ? "" : "'" + keyword + "': ") + rule;
}

json_schema json_schema::compile(const bj::value& schema, const resolver& resolve) {
    json_schema out;
    out.compiled_ = std::make_shared<compiled>();
    out.compiled_->source = schema;
    references refs(resolve);
    refs.prepare(out.compiled_->source, "");
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::BoostJsonAdapter adapter(out.compiled_->source);
    auto fetch = [&refs](const std::string& uri) { return refs.fetch(uri); };
    auto free = [](const bj::value* doc) { delete doc; };
    try {
        parser.populateSchema(adapter, out.compiled_->schema, fetch, free);
    } catch (const std::exception& e) {
        throw invalid_input(errc::config_error, std::string("not a JSON Schema (draft 7) valijson can compile: ") + e.what());
    }
    return out;
}

json_schema json_schema::load(const std::filesystem::path& file) {
    const auto folder = file.parent_path();
    auto resolve = [folder](const std::string& uri) -> std::optional<bj::value> {
        std::string_view path = uri;
        if (path.starts_with("file://")) path.remove_prefix(7);
        if (path.find("://") != std::string_view::npos || path.empty()) return std::nullopt;
        auto target = std::filesystem::path(path).is_absolute() ? std::filesystem::path(path) : folder / path;
        return parse_file(target);
    };
    try {
        return compile(parse_file(file), resolve);
    } catch (const error& e) {
        throw invalid_input(errc::config_error, "schema file '" + file.string() + "': " + e.what());
    }
}

std::optional<violation> json_schema::validate(const bj::value& document) const {
    valijson::ValidationResults results;
    valijson::adapters::BoostJsonAdapter target(document);
    bool valid = false;
    {
        std::lock_guard lock(compiled_->mutex);
        valid = compiled_->validator.validate(compiled_->schema, target, &results);
    }
    if (valid) return std::nullopt;
    // The deepest failing part is the most specific; its enclosing parts only say "a child failed".
    // At one depth the last error is the one that decided (`oneOf` after its alternatives' errors).
    const valijson::ValidationResults::Error* best = nullptr;
    for (const auto& e : results) {
        if (best == nullptr || e.context.size() >= best->context.size()) best = &e;
    }
    if (best == nullptr) return violation{"", "", "does not match"};
    return violation{pointer_of(best->context), keyword_of(best->description), tidy(best->description)};
}

void json_schema::check(const bj::value& document, const std::string& what) const {
    if (auto v = validate(document)) {
        throw error(errc::schema_violation, what + " does not match its schema at " + v->to_string());
    }
}

}  // namespace sluice::schema
