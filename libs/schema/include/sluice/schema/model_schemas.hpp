#pragma once
/// The schemas of the models that have one (`[apps.A.models.M] schema_file`, DESIGN.md §9),
/// compiled once at start-up. What they validate is the document as its client wrote it: the
/// fields Sluice maintains (`id`, `owner`, `version`, ...) are not part of it.
#include <sluice/config/config.hpp>
#include <sluice/schema/json_schema.hpp>

#include <map>
#include <string>
#include <utility>

namespace sluice::schema {

class model_schemas {
public:
    model_schemas() = default;
    /// Compiles every `schema_file` of `c`. Throws `config::config_error` naming the key
    /// (`apps.A.models.M.schema_file`) when one cannot be read or compiled.
    static model_schemas load(const config::config& c);

    /// The model's schema, or null when it has none.
    const json_schema* find(const std::string& app, const std::string& model) const;
    bool empty() const noexcept { return schemas_.empty(); }

private:
    std::map<std::pair<std::string, std::string>, json_schema> schemas_;
};

}  // namespace sluice::schema
