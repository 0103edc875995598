// Tests of reconciler {{name}}: `ctest` in the build directory.
#include "{{name}}.hpp"

#include <boost/json.hpp>

#include <cstdio>

namespace bj = boost::json;

int main() {
    int failures = 0;
    auto expect = [&](bool ok, const char* what) {
        if (!ok) {
            std::fprintf(stderr, "{{name}}: %s\n", what);
            ++failures;
        }
    };
    bj::object sound{{"reconciler", "{{name}}"}, {"check", "1"}, {"document", bj::object{{"id", "a"}}}};
    expect({{ident}}::check(sound).at("ok") == true, "a sound document passes");
    bj::object broken{{"reconciler", "{{name}}"}, {"check", "1"}, {"document", bj::object{{"id", "b"}, {"broken", true}}}};
    expect({{ident}}::check(broken).at("ok") == false, "a broken document fails");
    auto fixed = {{ident}}::fix(bj::object{{"reconciler", "{{name}}"}, {"document", broken.at("document")}, {"errors", bj::array{}}});
    expect(fixed.at("ok") == true && fixed.at("patch").as_array().size() == 1, "the fix answers a patch");
    if (failures == 0) std::puts("{{name}}: all checks passed");
    return failures == 0 ? 0 : 1;
}
