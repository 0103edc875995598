#pragma once
// The starting points `sluice new` writes, embedded in the program at build time from
// libs/cli/templates (embed_templates.cmake).
#include <string_view>
#include <vector>

namespace sluice::cli {

struct template_file {
    std::string_view path;  ///< "stage/exec/{{name}}.py": what, kind, then the file's name
    std::string_view text;  ///< with {{name}}, {{ident}}, {{dir}}, {{sluice_dir}} to fill in
};

const std::vector<template_file>& scaffold_templates();

}  // namespace sluice::cli
