// `sluice new stage|listener|reconciler NAME [--kind exec|webhook|cpp] [--dir D]`: writes a working
// starting point (the code, a test, the TOML that wires it in) into D/NAME (DESIGN.md §9).
#include "commands.hpp"
#include "scaffold.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace sluice::cli {

namespace fs = std::filesystem;

namespace {

void replace_all(std::string& text, std::string_view from, const std::string& to) {
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) text.replace(at, from.size(), to);
}

/// NAME as a C++ (and Python class) identifier: other characters become '_'.
std::string identifier(const std::string& name) {
    std::string id;
    for (char c : name) id += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    if (std::isdigit(static_cast<unsigned char>(id.front()))) id.insert(0, "x");
    return id;
}

bool valid_name(const std::string& name) {
    if (name.empty() || name.size() > 100 || !std::isalpha(static_cast<unsigned char>(name.front()))) return false;
    return std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; });
}

}  // namespace

command add_new_command(CLI::App& app) {
    struct new_options {
        std::string what, name, kind = "exec", dir = ".";
    };
    auto options = std::make_shared<new_options>();
    auto* sub = app.add_subcommand("new", "Write a working starting point for a stage, listener or reconciler, with a test and its TOML");
    sub->add_option("what", options->what, "stage | listener | reconciler")->required()->check(CLI::IsMember({"stage", "listener", "reconciler"}));
    sub->add_option("name", options->name, "Its name (letters, digits, '-', '_'; a letter first): the folder D/NAME and the name in sluice.toml")
        ->required();
    sub->add_option("--kind", options->kind, "exec (a program on stdin/stdout, Python here), webhook (an HTTP server) or cpp")
        ->check(CLI::IsMember({"exec", "webhook", "cpp"}));
    sub->add_option("--dir", options->dir, "Where to create the folder NAME (default: the current directory)");
    return {sub, [options] {
                const auto& o = *options;
                if (!valid_name(o.name)) {
                    std::cerr << "sluice: name '" << o.name << "': use letters, digits, '-' or '_', starting with a letter\n";
                    return exit_bad_input;
                }
                std::error_code ec;
                const fs::path target = fs::absolute(fs::path(o.dir) / o.name, ec);
                if (fs::exists(target) && !fs::is_empty(target)) {
                    std::cerr << "sluice: " << target.string() << " exists and is not empty: choose another name or --dir\n";
                    return exit_bad_input;
                }
                const std::string prefix = o.what + "/" + o.kind + "/";
                const std::pair<std::string_view, std::string> values[] = {
                    {"{{name}}", o.name}, {"{{ident}}", identifier(o.name)}, {"{{dir}}", target.string()}, {"{{sluice_dir}}", SLUICE_BUILD_DIR}};
                auto fill = [&](std::string_view text) {
                    std::string out(text);
                    for (const auto& [from, to] : values) replace_all(out, from, to);
                    return out;
                };
                try {
                    fs::create_directories(target);
                    for (const auto& t : scaffold_templates()) {
                        if (!t.path.starts_with(prefix)) continue;
                        const auto file = target / fill(t.path.substr(prefix.size()));
                        std::ofstream out(file, std::ios::binary);
                        out << fill(t.text);
                        if (!out) throw std::runtime_error("cannot write " + file.string());
                        out.close();
                        if (file.extension() == ".py")
                            fs::permissions(file, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec, fs::perm_options::add);
                        std::cout << "wrote " << file.string() << "\n";
                    }
                } catch (const std::exception& e) {
                    std::cerr << "sluice: " << e.what() << "\n";
                    return 1;
                }
                std::cout << "\nNext: read " << (target / "README.md").string() << "; the configuration that wires " << o.what << " '"
                          << o.name << "' in is " << (target / "sluice.toml").string() << ".\n";
                return 0;
            }};
}

}  // namespace sluice::cli
