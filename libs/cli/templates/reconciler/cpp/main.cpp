// sluice-{{name}}: the whole `sluice` program (serve, api, stage, token, dlq, ...) with the check
// and fix of reconciler {{name}} registered, for `kind = "cpp"` in sluice.toml.
#include "{{name}}.hpp"

#include <sluice/callout/caller.hpp>
#include <sluice/cli/cli.hpp>

int main(int argc, char** argv) {
    sluice::callout::register_function("{{name}}.check", {{ident}}::check);
    sluice::callout::register_function("{{name}}.fix", {{ident}}::fix);
    return sluice::cli::run(argc, argv);
}
