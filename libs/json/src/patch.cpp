#include <sluice/core/json_io.hpp>
#include <sluice/json/patch.hpp>
#include <sluice/json/value.hpp>

#include <limits>

namespace sluice::json {

namespace bj = boost::json;
using kind = patch_operation::kind;

const char* to_string(kind k) noexcept {
    switch (k) {
        case kind::add: return "add";
        case kind::remove: return "remove";
        case kind::replace: return "replace";
        case kind::move: return "move";
        case kind::copy: return "copy";
        case kind::test: return "test";
        case kind::set: return "set";
        case kind::incr: return "incr";
        case kind::append: return "append";
        case kind::prepend: return "prepend";
    }
    return "?";
}

namespace {

[[noreturn]] void bad(std::size_t index, const std::string& message) {
    throw invalid_input(errc::invalid_patch, "operation " + std::to_string(index) + ": " + message);
}

pointer pointer_at(std::size_t index, const bj::object& op, const char* member) {
    const auto* v = op.if_contains(member);
    if (v == nullptr) bad(index, std::string("missing '") + member + "'");
    const auto* s = v->if_string();
    if (s == nullptr) bad(index, std::string("'") + member + "' must be a JSON Pointer string");
    try {
        return pointer::parse(*s);
    } catch (const invalid_input& e) {
        bad(index, e.what());
    }
}

void parse_rfc(std::size_t index, kind k, const bj::object& op, std::vector<patch_operation>& out) {
    patch_operation result{k, pointer_at(index, op, "path"), {}, {}, index};
    if (k == kind::move || k == kind::copy) result.from = pointer_at(index, op, "from");
    if (k == kind::add || k == kind::replace || k == kind::test) {
        const auto* v = op.if_contains("value");
        if (v == nullptr) bad(index, "missing 'value'");
        result.value = *v;
    }
    out.push_back(std::move(result));
}

/// The seed's `{op, path: [dotted...], value: [...]}`; a plain string path is one dotted path.
void parse_seed(std::size_t index, const std::string& name, const bj::object& op, std::vector<patch_operation>& out) {
    kind k = name == "replace" || name == "set" ? kind::set
             : name == "append" ? kind::append
             : name == "prepend" ? kind::prepend
                                 : kind::incr;
    const auto* path = op.if_contains("path");
    std::vector<std::string_view> paths;
    if (path != nullptr && path->is_string()) {
        paths.push_back(path->get_string());
    } else if (path != nullptr && path->is_array() && !path->get_array().empty()) {
        for (const auto& p : path->get_array()) {
            if (!p.is_string()) bad(index, "'path' entries must be dotted path strings");
            paths.push_back(p.get_string());
        }
    } else {
        bad(index, "'path' must be a non-empty array of dotted paths");
    }
    const auto* value = op.if_contains("value");
    std::vector<bj::value> values;
    if (value == nullptr) {
        if (k != kind::incr) bad(index, "missing 'value'");
        values.assign(paths.size(), bj::value(1));
    } else if (value->is_array() && (path->is_array() || value->get_array().size() == paths.size())) {
        const auto& a = value->get_array();
        if (a.size() != paths.size())
            bad(index, "'value' has " + std::to_string(a.size()) + " entries for " + std::to_string(paths.size()) +
                           " paths");
        values.assign(a.begin(), a.end());
    } else {
        values.assign(paths.size(), *value);
    }
    for (std::size_t i = 0; i < paths.size(); ++i) {
        if (paths[i].empty()) bad(index, "empty path");
        bj::value v = std::move(values[i]);
        if (k == kind::incr) {
            if (!v.is_number()) bad(index, "'" + name + "' needs a numeric value");
            if (name == "decr") {
                if (v.is_int64() && v.get_int64() != std::numeric_limits<std::int64_t>::min()) {
                    v = -v.get_int64();
                } else {
                    v = -static_cast<double>(number_of(v));
                }
            }
        }
        // A string path starting with '/' is a JSON Pointer: the normalised form (patch::to_json()).
        pointer p;
        if (path->is_string() && paths[i].front() == '/') {
            try {
                p = pointer::parse(paths[i]);
            } catch (const invalid_input& e) {
                bad(index, e.what());
            }
        } else {
            p = pointer::from_dotted(paths[i]);
        }
        out.push_back({k, std::move(p), {}, std::move(v), index});
    }
}

// ----- application -------------------------------------------------------------------------------

[[noreturn]] void failed(const patch_operation& op, const std::string& reason) {
    throw patch_error(op.source_index, "operation " + std::to_string(op.source_index) + " (" + to_string(op.op) +
                                           " " + op.path.to_string() + "): " + reason);
}

/// The container that holds the last token of `p`.
bj::value& parent_of(bj::value& doc, const pointer& p, const patch_operation& op) {
    bj::value* cur = &doc;
    const auto& tokens = p.tokens();
    for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
        if (auto* o = cur->if_object()) {
            auto it = o->find(tokens[i]);
            if (it == o->end()) failed(op, "path not found at '" + tokens[i] + "'");
            cur = &it->value();
        } else if (auto* a = cur->if_array()) {
            std::size_t idx;
            if (!parse_index(tokens[i], idx) || idx >= a->size())
                failed(op, "no array element '" + tokens[i] + "'");
            cur = &(*a)[idx];
        } else {
            failed(op, "'" + tokens[i] + "' is inside a value that is neither object nor array");
        }
    }
    return *cur;
}

std::size_t array_index(const bj::array& a, const std::string& token, bool allow_end, const patch_operation& op) {
    if (allow_end && token == "-") return a.size();
    std::size_t idx;
    if (!parse_index(token, idx)) failed(op, "'" + token + "' is not an array index");
    if (idx > a.size() || (!allow_end && idx == a.size()))
        failed(op, "array index " + token + " is out of range (size " + std::to_string(a.size()) + ")");
    return idx;
}

bj::value* existing(bj::value& doc, const pointer& p, const patch_operation& op) {
    if (p.is_root()) return &doc;
    bj::value& parent = parent_of(doc, p, op);
    const auto& last = p.tokens().back();
    if (auto* o = parent.if_object()) {
        auto it = o->find(last);
        if (it == o->end()) failed(op, "path not found");
        return &it->value();
    }
    if (auto* a = parent.if_array()) return &(*a)[array_index(*a, last, false, op)];
    failed(op, "path not found");
}

void add(bj::value& doc, const pointer& p, bj::value v, const patch_operation& op) {
    if (p.is_root()) {
        doc = std::move(v);
        return;
    }
    bj::value& parent = parent_of(doc, p, op);
    const auto& last = p.tokens().back();
    if (auto* o = parent.if_object()) {
        (*o)[last] = std::move(v);
    } else if (auto* a = parent.if_array()) {
        std::size_t idx = array_index(*a, last, true, op);
        a->insert(a->begin() + static_cast<std::ptrdiff_t>(idx), std::move(v));
    } else {
        failed(op, "parent is neither object nor array");
    }
}

bj::value take(bj::value& doc, const pointer& p, const patch_operation& op) {
    if (p.is_root()) failed(op, "cannot remove the whole document");
    bj::value& parent = parent_of(doc, p, op);
    const auto& last = p.tokens().back();
    if (auto* o = parent.if_object()) {
        auto it = o->find(last);
        if (it == o->end()) failed(op, "path not found");
        bj::value out = std::move(it->value());
        o->erase(it);
        return out;
    }
    if (auto* a = parent.if_array()) {
        std::size_t idx = array_index(*a, last, false, op);
        bj::value out = std::move((*a)[idx]);
        a->erase(a->begin() + static_cast<std::ptrdiff_t>(idx));
        return out;
    }
    failed(op, "path not found");
}

/// The member or element `p` names, created as null when an object lacks it (seed operations).
bj::value* slot(bj::value& doc, const pointer& p, const patch_operation& op, bool& created) {
    created = false;
    if (p.is_root()) return &doc;
    bj::value& parent = parent_of(doc, p, op);
    const auto& last = p.tokens().back();
    if (auto* o = parent.if_object()) {
        auto it = o->find(last);
        if (it != o->end()) return &it->value();
        created = true;
        return &(*o)[last];
    }
    if (auto* a = parent.if_array()) {
        std::size_t idx = array_index(*a, last, true, op);
        if (idx == a->size()) {
            created = true;
            a->emplace_back(nullptr);
        }
        return &(*a)[idx];
    }
    failed(op, "parent is neither object nor array");
}

void increment(bj::value& target, const bj::value& by, bool created, const patch_operation& op) {
    if (created) {
        target = by;
        return;
    }
    if (!target.is_number()) failed(op, "target is not a number");
    if (target.is_int64() && by.is_int64()) {
        std::int64_t result;
        if (!__builtin_add_overflow(target.get_int64(), by.get_int64(), &result)) {
            target = result;
            return;
        }
    }
    target = static_cast<double>(number_of(target) + number_of(by));
}

void extend(bj::value& target, const bj::value& v, bool created, bool at_front, const patch_operation& op) {
    if (created) {
        target = bj::array{v};
    } else if (auto* a = target.if_array()) {
        if (at_front) {
            a->insert(a->begin(), v);
        } else {
            a->push_back(v);
        }
    } else if (auto* s = target.if_string()) {
        if (!v.is_string()) failed(op, "only a string can be added to a string");
        if (at_front) {
            s->insert(0, v.get_string());
        } else {
            s->append(v.get_string());
        }
    } else {
        failed(op, "target is neither an array nor a string");
    }
}

void apply_one(bj::value& doc, const patch_operation& op) {
    switch (op.op) {
        case kind::add: add(doc, op.path, op.value, op); break;
        case kind::remove: take(doc, op.path, op); break;
        case kind::replace: *existing(doc, op.path, op) = op.value; break;
        case kind::move: {
            if (op.from.is_proper_prefix_of(op.path)) failed(op, "cannot move a value into itself");
            if (op.from.tokens() == op.path.tokens()) {
                existing(doc, op.from, op);
                break;
            }
            add(doc, op.path, take(doc, op.from, op), op);
            break;
        }
        case kind::copy: add(doc, op.path, *existing(doc, op.from, op), op); break;
        case kind::test:
            if (!equal(*existing(doc, op.path, op), op.value)) failed(op, "test failed: value differs");
            break;
        case kind::set: {
            bool created = false;
            *slot(doc, op.path, op, created) = op.value;
            break;
        }
        case kind::incr: {
            bool created = false;
            bj::value& target = *slot(doc, op.path, op, created);
            increment(target, op.value, created, op);
            break;
        }
        case kind::append:
        case kind::prepend: {
            bool created = false;
            bj::value& target = *slot(doc, op.path, op, created);
            extend(target, op.value, created, op.op == kind::prepend, op);
            break;
        }
    }
}

}  // namespace

patch patch::parse(const bj::value& source) {
    patch result;
    bj::array single;
    const bj::array* list = source.if_array();
    if (list == nullptr && source.is_object()) {
        single.push_back(source);
        list = &single;
    }
    if (list == nullptr) throw invalid_input(errc::invalid_patch, "a patch must be an array of operations");
    for (std::size_t i = 0; i < list->size(); ++i) {
        const auto* op = (*list)[i].if_object();
        if (op == nullptr) bad(i, "must be an object");
        const auto* name_value = op->if_contains("op");
        if (name_value == nullptr || !name_value->is_string()) bad(i, "missing 'op'");
        std::string name(name_value->get_string());
        const auto* path = op->if_contains("path");
        bool seed_path = path != nullptr && path->is_array();
        if (name == "append" || name == "prepend" || name == "incr" || name == "decr" || name == "set" ||
            (name == "replace" && seed_path)) {
            parse_seed(i, name, *op, result.operations_);
        } else if (name == "add") {
            parse_rfc(i, kind::add, *op, result.operations_);
        } else if (name == "remove") {
            parse_rfc(i, kind::remove, *op, result.operations_);
        } else if (name == "replace") {
            parse_rfc(i, kind::replace, *op, result.operations_);
        } else if (name == "move") {
            parse_rfc(i, kind::move, *op, result.operations_);
        } else if (name == "copy") {
            parse_rfc(i, kind::copy, *op, result.operations_);
        } else if (name == "test") {
            parse_rfc(i, kind::test, *op, result.operations_);
        } else {
            bad(i, "unknown op '" + name + "'");
        }
    }
    return result;
}

patch patch::parse(std::string_view text) { return parse(parse_json(text, "patch")); }

void patch::apply(bj::value& document) const { document = applied_to(document); }

bj::value patch::applied_to(const bj::value& document) const {
    bj::value result = document;
    for (const auto& op : operations_) apply_one(result, op);
    return result;
}

bj::array patch::to_json() const {
    bj::array out;
    out.reserve(operations_.size());
    for (const auto& op : operations_) {
        bj::object o;
        o["op"] = to_string(op.op);
        o["path"] = op.path.to_string();
        if (op.op == kind::move || op.op == kind::copy) {
            o["from"] = op.from.to_string();
        } else if (op.op != kind::remove) {
            o["value"] = op.value;
        }
        out.push_back(std::move(o));
    }
    return out;
}

}  // namespace sluice::json
