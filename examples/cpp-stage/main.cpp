// A `sluice` with one extra stage written in C++ (DESIGN.md §8, `kind = "cpp"`).
//
// The stage `redact` stands between the writer and the transport manager:
//
//     [stages.writer]
//     next = ["redact"]
//     [stages.redact]
//     kind = "cpp"                      # runs the function registered below as "redact"
//     next = ["transport-manager"]
//
// It receives the change envelope (DESIGN.md §2) and removes secret fields from what devices are
// sent: they stay in the store, but `before`, `after` and the patch lose them. A change that only
// touched secret fields is consumed (`done`): devices never hear of it.
//
// The fields are `password` and `secret`, or the comma-separated list in SLUICE_REDACT_FIELDS.
#include <sluice/cli/cli.hpp>
#include <sluice/pipeline/stage.hpp>

#include <boost/json.hpp>

#include <cstdlib>
#include <set>
#include <sstream>
#include <string>

namespace {

namespace bj = boost::json;
using sluice::pipeline::reply;
using sluice::pipeline::stage_request;

std::set<std::string> redacted_fields() {
    const char* env = std::getenv("SLUICE_REDACT_FIELDS");
    std::set<std::string> fields;
    std::stringstream list(env != nullptr ? env : "password,secret");
    for (std::string f; std::getline(list, f, ',');) {
        if (!f.empty()) fields.insert(f);
    }
    return fields;
}

/// The top-level field a JSON pointer ("/password/0") starts with.
std::string first_field(const bj::value& path) {
    if (!path.is_string()) return {};
    std::string p(path.get_string());
    auto end = p.find('/', 1);
    return p.size() > 1 ? p.substr(1, end == std::string::npos ? std::string::npos : end - 1) : std::string{};
}

}  // namespace

int main(int argc, char** argv) {
    // Register before running the CLI. The function runs on `instances` threads at once: it only
    // reads `fields`, which is never changed after this point.
    sluice::pipeline::register_stage("redact", [fields = redacted_fields()](const stage_request& request) {
        bj::object envelope = request.message.as_object();  // a change envelope: {op, event, ..., patch, before, after}
        for (const char* image : {"before", "after"}) {
            if (auto* doc = envelope.if_contains(image); doc != nullptr && doc->is_object()) {
                for (const auto& f : fields) doc->as_object().erase(f);
            }
        }
        if (auto* patch = envelope.if_contains("patch"); patch != nullptr && patch->is_array()) {
            bj::array kept;
            for (const auto& op : patch->as_array()) {
                if (!op.is_object() || !op.as_object().contains("path") || !fields.count(first_field(op.as_object().at("path"))))
                    kept.push_back(op);
            }
            if (kept.empty() && !patch->as_array().empty()) {
                reply nothing;  // only secret fields changed: there is nothing to tell devices
                nothing.what = reply::action::done;
                return nothing;
            }
            *patch = std::move(kept);
        }
        reply forward;  // action "next": to the configured next stages
        forward.message = std::move(envelope);
        return forward;
    });
    return sluice::cli::run(argc, argv);  // the whole `sluice` command line: serve, dlq, token, ...
}
