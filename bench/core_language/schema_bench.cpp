// Model schema validation cost per document (DESIGN.md §9): a typical 20-field document against
// a schema of the kind users write (types, required, bounds, a pattern, nested objects, arrays),
// compiled once; beside it the patch apply of patch_bench.cpp, the other per-write cost.
#include <sluice/core/json_io.hpp>
#include <sluice/schema/json_schema.hpp>

#include <benchmark/benchmark.h>

namespace {

const char* document = R"({"title":"Write the benchmark","status":"open","priority":3,"score":41.5,
  "done":false,"tags":["red","blue"],"assignee":{"name":"ann","team":"core"},"count":0,"notes":"",
  "items":[{"sku":"s1","qty":2},{"sku":"s2","qty":1}],"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9})";

const char* schema = R"({
  "type": "object",
  "required": ["title", "status", "priority"],
  "properties": {
    "title": {"type": "string", "minLength": 1, "maxLength": 200},
    "status": {"enum": ["open", "closed", "archived"]},
    "priority": {"type": "integer", "minimum": 1, "maximum": 5},
    "score": {"type": "number"},
    "done": {"type": "boolean"},
    "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}, "uniqueItems": true},
    "assignee": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "team": {"type": "string"}}},
    "count": {"type": "integer", "minimum": 0},
    "notes": {"type": "string"},
    "items": {"type": "array", "items": {"type": "object", "required": ["sku", "qty"],
              "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}}}}
  },
  "additionalProperties": {"type": "integer"}
})";

void BM_SchemaValidateValid(benchmark::State& state) {
    auto s = sluice::schema::json_schema::compile(sluice::parse_json(schema));
    auto doc = sluice::parse_json(document);
    if (s.validate(doc)) state.SkipWithError("the document should be valid");
    for (auto _ : state) benchmark::DoNotOptimize(s.validate(doc));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SchemaValidateValid);

void BM_SchemaValidateViolation(benchmark::State& state) {
    auto s = sluice::schema::json_schema::compile(sluice::parse_json(schema));
    auto doc = sluice::parse_json(document);
    doc.as_object()["priority"] = 9;
    for (auto _ : state) benchmark::DoNotOptimize(s.validate(doc));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SchemaValidateViolation);

void BM_SchemaCompile(benchmark::State& state) {
    auto source = sluice::parse_json(schema);
    for (auto _ : state) benchmark::DoNotOptimize(sluice::schema::json_schema::compile(source));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SchemaCompile);

}  // namespace
