// Tests of stage {{name}}: `ctest` in the build directory.
#include "{{name}}.hpp"

#include <boost/json.hpp>

#include <cstdio>

namespace bj = boost::json;

static int failures = 0;
#define CHECK(condition)                                                                  \
    do {                                                                                  \
        if (!(condition)) {                                                               \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #condition); \
            ++failures;                                                                   \
        }                                                                                 \
    } while (0)

int main() {
    sluice::pipeline::stage_request created{"{{name}}", 1, bj::parse(R"({"event":"model_created","id":"t1","data":{"title":"x"}})"), nullptr};
    auto r = {{ident}}::handle(created);
    CHECK(r.what == sluice::pipeline::reply::action::next);
    CHECK(r.message && r.message->at("data").at("checked_by") == "{{name}}");
    CHECK(r.message && r.message->at("data").at("title") == "x");

    sluice::pipeline::stage_request updated{"{{name}}", 1, bj::parse(R"({"event":"model_updated","patch":[]})"), nullptr};
    auto u = {{ident}}::handle(updated);
    CHECK(u.what == sluice::pipeline::reply::action::next && !u.message);  // forwarded unchanged
    if (failures == 0) std::puts("{{name}}: all checks passed");
    return failures == 0 ? 0 : 1;
}
