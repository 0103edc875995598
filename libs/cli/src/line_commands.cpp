// `sluice filter` and `sluice patch`: apply a filter or a patch to JSON documents, one per line.
#include "commands.hpp"

#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/json/filter.hpp>
#include <sluice/json/patch.hpp>

#include <boost/json/serialize.hpp>

#include <fstream>
#include <iostream>
#include <memory>

namespace sluice::cli {

namespace {

struct line_options {
    std::string argument;  // the query or the patch
    std::string file;      // empty: stdin
};

/// Runs `each(document)` for every non-blank line of the input; a bad argument or line ends the run
/// with exit code 2 and a message naming it.
template <class Prepare, class Each>
int for_each_line(const line_options& options, const char* what, Prepare prepare, Each each) {
    std::ios::sync_with_stdio(false);
    try {
        prepare(options.argument);
    } catch (const sluice::error& e) {
        std::cerr << "sluice: invalid " << what << ": " << e.what() << "\n";
        return exit_bad_input;
    }
    std::ifstream file;
    std::istream* in = &std::cin;
    if (!options.file.empty()) {
        file.open(options.file);
        if (!file) {
            std::cerr << "sluice: cannot open " << options.file << "\n";
            return exit_bad_input;
        }
        in = &file;
    }
    std::string line;
    std::size_t number = 0;
    while (std::getline(*in, line)) {
        ++number;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        try {
            each(parse_json(line, "line " + std::to_string(number)));
        } catch (const sluice::error& e) {
            std::cout.flush();
            std::cerr << "sluice: line " << number << ": " << e.what() << "\n";
            return exit_bad_input;
        }
    }
    return 0;
}

}  // namespace

command add_filter_command(CLI::App& app) {
    auto options = std::make_shared<line_options>();
    auto* sub = app.add_subcommand("filter", "Print true or false for each JSON document (one per line) of FILE or stdin");
    sub->add_option("QUERY", options->argument, "Filter (MongoDB query syntax) as JSON")->required();
    sub->add_option("FILE", options->file, "File of JSON documents, one per line (default: stdin)");
    return {sub, [options] {
        std::shared_ptr<json::filter> filter;
        return for_each_line(
            *options, "query",
            [&](const std::string& text) { filter = std::make_shared<json::filter>(json::filter::compile(text)); },
            [&](const boost::json::value& doc) { std::cout << (filter->matches(doc) ? "true\n" : "false\n"); });
    }};
}

command add_patch_command(CLI::App& app) {
    auto options = std::make_shared<line_options>();
    auto* sub = app.add_subcommand("patch", "Print each JSON document (one per line) of FILE or stdin with PATCH applied");
    sub->add_option("PATCH", options->argument, "RFC 6902 JSON Patch, or the seed's patch format, as JSON")->required();
    sub->add_option("FILE", options->file, "File of JSON documents, one per line (default: stdin)");
    return {sub, [options] {
        std::shared_ptr<json::patch> patch;
        return for_each_line(
            *options, "patch",
            [&](const std::string& text) { patch = std::make_shared<json::patch>(json::patch::parse(text)); },
            [&](const boost::json::value& doc) { std::cout << boost::json::serialize(patch->applied_to(doc)) << "\n"; });
    }};
}

}  // namespace sluice::cli
