// Tests of listener {{name}}: `ctest` in the build directory.
#include "{{name}}.hpp"

#include <boost/json.hpp>

#include <cstdio>

int main() {
    auto envelope = boost::json::parse(
        R"({"op":"01J","event":"model_created","app":"demo","model":"task","id":"t1","owner":"alice","actor":"alice",)"
        R"("ts":0,"version":1,"before":null,"after":{"id":"t1","title":"x"}})");
    auto r = {{ident}}::handle({"{{name}}", 1, envelope, nullptr});
    if (r.what != sluice::pipeline::reply::action::done) {
        std::fprintf(stderr, "{{name}}: expected done\n");
        return 1;
    }
    std::puts("{{name}}: all checks passed");
    return 0;
}
