// sluice-{{name}}: the whole `sluice` program (serve, api, stage, token, dlq, ...) with the C++
// stage {{name}} registered, for `kind = "cpp"` in sluice.toml.
#include "{{name}}.hpp"

#include <sluice/cli/cli.hpp>

int main(int argc, char** argv) {
    sluice::pipeline::register_stage("{{name}}", {{ident}}::handle);
    return sluice::cli::run(argc, argv);
}
