// The `sluice` program: everything is in libs/cli, so programs with their own C++ stages are the
// same program (see examples/cpp-stage).
#include <sluice/cli/cli.hpp>

int main(int argc, char** argv) { return sluice::cli::run(argc, argv); }
