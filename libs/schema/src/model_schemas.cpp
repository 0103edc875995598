#include <sluice/schema/model_schemas.hpp>

namespace sluice::schema {

model_schemas model_schemas::load(const config::config& c) {
    model_schemas out;
    for (const auto& [app, a] : c.apps) {
        for (const auto& [model, m] : a.models) {
            if (m.schema_file.empty()) continue;
            try {
                out.schemas_.emplace(std::make_pair(app, model), json_schema::load(m.schema_file));
            } catch (const error& e) {
                throw config::config_error("config key 'apps." + app + ".models." + model + ".schema_file': " + e.what());
            }
        }
    }
    return out;
}

const json_schema* model_schemas::find(const std::string& app, const std::string& model) const {
    auto it = schemas_.find({app, model});
    return it == schemas_.end() ? nullptr : &it->second;
}

}  // namespace sluice::schema
