#include <sluice/core/error.hpp>
#include <sluice/core/json_io.hpp>
#include <sluice/json/filter.hpp>
#include <sluice/json/value.hpp>

#include <boost/json/serialize.hpp>
#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <string>
#include <unordered_map>

namespace sluice::json {

namespace bj = boost::json;

namespace {

[[noreturn]] void fail(const std::string& message) { throw invalid_input(errc::invalid_filter, message); }

std::string where(std::span<const path_segment> path) {
    std::string out;
    for (const auto& seg : path) {
        if (!out.empty()) out += '.';
        out += seg.key;
    }
    return out.empty() ? std::string("$elemMatch element") : "field '" + out + "'";
}

// ----- field-level operators ---------------------------------------------------------------------
// An operator tests the values a path reaches from a root (a document, or an array element for
// operator-form $elemMatch, with an empty path).

struct op {
    virtual ~op() = default;
    /// The test on one reached value (nullptr: the field is missing).
    virtual bool test_one(const bj::value* v) const noexcept = 0;
    /// The test on every value the path reaches from `root`: passes when one of them does.
    virtual bool test(const bj::value* root, std::span<const path_segment> path) const noexcept {
        return any_value(root, path, [this](const bj::value* v) { return test_one(v); });
    }
};
using op_list = std::vector<std::unique_ptr<op>>;

bool all_pass(const op_list& ops, const bj::value* root, std::span<const path_segment> path) noexcept {
    for (const auto& o : ops) {
        if (!o->test(root, path)) return false;
    }
    return true;
}

bool all_pass_one(const op_list& ops, const bj::value* v) noexcept {
    for (const auto& o : ops) {
        if (!o->test_one(v)) return false;
    }
    return true;
}

/// Operators that compare single values (CRTP, so `on_value` inlines): a leaf array passes when
/// the array itself or any of its elements does; a missing field passes only if `on_missing()`.
template <class Derived>
struct element_op : op {
    bool on_missing() const noexcept { return false; }
    bool test_one(const bj::value* v) const noexcept final {
        const auto& self = static_cast<const Derived&>(*this);
        if (v == nullptr) return self.on_missing();
        if (self.on_value(*v)) return true;
        if (const auto* array = v->if_array()) {
            for (const auto& e : *array) {
                if (self.on_value(e)) return true;
            }
        }
        return false;
    }
};

/// A number as a double when that is exact (every double, integers below 2^53 in magnitude).
inline bool exact_double(const bj::value& v, double& out) noexcept {
    switch (v.kind()) {
        case bj::kind::double_: out = v.get_double(); return true;
        case bj::kind::int64: {
            auto i = v.get_int64();
            out = static_cast<double>(i);
            return i > -(std::int64_t(1) << 53) && i < (std::int64_t(1) << 53);
        }
        default: return false;
    }
}

/// Equality with fast paths for the common string and number cases.
inline bool equal_fast(const bj::value& v, const bj::value& expected) noexcept {
    if (v.kind() == bj::kind::string && expected.kind() == bj::kind::string) {
        std::string_view a = v.get_string(), b = expected.get_string();
        return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
    }
    double a, b;
    if (exact_double(v, a) && exact_double(expected, b)) return a == b;
    return equal(v, expected);
}

struct eq_op final : element_op<eq_op> {
    bj::value expected;
    explicit eq_op(bj::value v) : expected(std::move(v)) {}
    bool on_value(const bj::value& v) const noexcept { return equal_fast(v, expected); }
    bool on_missing() const noexcept { return expected.is_null(); }
};

enum class comparison { gt, gte, lt, lte };

struct compare_op final : element_op<compare_op> {
    bj::value bound;
    comparison how;
    compare_op(bj::value b, comparison c) : bound(std::move(b)), how(c) {}
    bool on_value(const bj::value& v) const noexcept {
        int c;
        double a, b;
        if (exact_double(v, a) && exact_double(bound, b)) {
            c = a < b ? -1 : (b < a ? 1 : 0);
        } else if (v.is_int64() && bound.is_int64()) {
            auto a = v.get_int64(), b = bound.get_int64();
            c = a < b ? -1 : (b < a ? 1 : 0);
        } else if (bracket_of(v) != bracket_of(bound)) {
            return false;
        } else {
            c = compare(v, bound);
        }
        switch (how) {
            case comparison::gt: return c > 0;
            case comparison::gte: return c >= 0;
            case comparison::lt: return c < 0;
            case comparison::lte: return c <= 0;
        }
        return false;
    }
    bool on_missing() const noexcept {
        return bound.is_null() && (how == comparison::gte || how == comparison::lte);
    }
};

bool is_ascii(std::string_view s) noexcept {
    for (char c : s) {
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    }
    return true;
}

char ascii_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool ascii_iequal(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    }
    return true;
}

/// $regex on RE2, with a shortcut for the patterns that are a literal prefix (`^abc`) or a literal
/// (`abc`): those are answered by comparing bytes, falling back to RE2 where case folding could
/// involve non-ASCII text.
struct regex_op final : element_op<regex_op> {
    enum class shortcut { none, prefix, contains };
    std::unique_ptr<RE2> re;
    shortcut fast = shortcut::none;
    bool case_insensitive = false;
    std::string literal;  // lower-cased when case_insensitive

    regex_op(std::unique_ptr<RE2> r, std::string_view pattern, bool icase, bool multiline, bool extended)
        : re(std::move(r)), case_insensitive(icase) {
        if (multiline || extended) return;
        bool anchored = !pattern.empty() && pattern.front() == '^';
        std::string_view body = anchored ? pattern.substr(1) : pattern;
        if (body.empty()) return;
        for (char c : body) {
            if (!std::isalnum(static_cast<unsigned char>(c)) && std::string_view(" _-:,'\"/@#%&=<>!~;").find(c) == std::string_view::npos)
                return;
        }
        literal = body;
        if (icase) {
            for (char& c : literal) c = ascii_lower(c);
        }
        fast = anchored ? shortcut::prefix : shortcut::contains;
    }

    bool slow(std::string_view s) const noexcept { return RE2::PartialMatch(re2::StringPiece(s.data(), s.size()), *re); }

    bool on_value(const bj::value& v) const noexcept {
        const auto* str = v.if_string();
        if (str == nullptr) return false;
        std::string_view s = *str;
        switch (fast) {
            case shortcut::none: return slow(s);
            case shortcut::prefix: {
                if (s.size() < literal.size()) return false;
                std::string_view head = s.substr(0, literal.size());
                if (!case_insensitive) return head == literal;
                return is_ascii(head) ? ascii_iequal(head, literal) : slow(s);
            }
            case shortcut::contains: {
                if (!case_insensitive) return s.find(literal) != std::string_view::npos;
                if (!is_ascii(s)) return slow(s);
                for (std::size_t i = 0; i + literal.size() <= s.size(); ++i) {
                    if (ascii_iequal(s.substr(i, literal.size()), literal)) return true;
                }
                return false;
            }
        }
        return false;
    }
};

struct in_op final : element_op<in_op> {
    std::vector<bj::value> values;
    std::vector<std::unique_ptr<regex_op>> regexes;
    bool has_null = false;
    bool on_value(const bj::value& v) const noexcept {
        for (const auto& candidate : values) {
            if (equal_fast(v, candidate)) return true;
        }
        for (const auto& r : regexes) {
            if (r->on_value(v)) return true;
        }
        return false;
    }
    bool on_missing() const noexcept { return has_null; }
};

struct mod_op final : element_op<mod_op> {
    std::int64_t divisor, remainder;
    mod_op(std::int64_t d, std::int64_t r) : divisor(d), remainder(r) {}
    bool on_value(const bj::value& v) const noexcept {
        std::int64_t n;
        if (v.is_int64()) {
            n = v.get_int64();
        } else if (v.is_uint64()) {
            n = static_cast<std::int64_t>(v.get_uint64());
        } else if (v.is_double()) {
            double d = v.get_double();
            if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return false;
            n = static_cast<std::int64_t>(d);  // MongoDB truncates toward zero
        } else {
            return false;
        }
        if (divisor == -1) return remainder == 0;  // avoids INT64_MIN % -1
        return n % divisor == remainder;
    }
};

struct type_op final : element_op<type_op> {
    std::vector<int> codes;  // BSON type numbers; 0 stands for the alias "number"
    static int code_of(const bj::value& v) noexcept {
        switch (v.kind()) {
            case bj::kind::double_: return 1;
            case bj::kind::string: return 2;
            case bj::kind::object: return 3;
            case bj::kind::array: return 4;
            case bj::kind::bool_: return 8;
            case bj::kind::null: return 10;
            case bj::kind::int64: {
                auto i = v.get_int64();
                return i >= INT32_MIN && i <= INT32_MAX ? 16 : 18;
            }
            case bj::kind::uint64: return 18;
        }
        return -2;
    }
    bool on_value(const bj::value& v) const noexcept {
        int code = code_of(v);
        for (int c : codes) {
            if (c == code || (c == 0 && v.is_number())) return true;
        }
        return false;
    }
};

struct exists_op final : op {
    bool test_one(const bj::value* v) const noexcept override { return v != nullptr; }
};

struct size_op final : op {
    std::size_t size;
    explicit size_op(std::size_t n) : size(n) {}
    bool test_one(const bj::value* v) const noexcept override {
        return v != nullptr && v->is_array() && v->get_array().size() == size;
    }
};

struct not_op final : op {
    op_list inner;
    explicit not_op(op_list ops) : inner(std::move(ops)) {}
    bool test_one(const bj::value* v) const noexcept override { return !all_pass_one(inner, v); }
    bool test(const bj::value* root, std::span<const path_segment> path) const noexcept override {
        return !all_pass(inner, root, path);
    }
};

/// The two forms of $elemMatch: a query applied to object elements, or operators applied to each
/// element's value.
struct elem_match_op final : op {
    std::unique_ptr<detail::node> query;  // document form
    op_list ops;                          // operator form
    bool element_matches(const bj::value& e) const noexcept;
    bool test_one(const bj::value* v) const noexcept override {
        if (v == nullptr || !v->is_array()) return false;
        for (const auto& e : v->get_array()) {
            if (element_matches(e)) return true;
        }
        return false;
    }
};

struct all_op final : op {
    op_list items;  // every item must pass; an empty $all matches nothing
    bool test_one(const bj::value* v) const noexcept override { return !items.empty() && all_pass_one(items, v); }
    bool test(const bj::value* root, std::span<const path_segment> path) const noexcept override {
        return !items.empty() && all_pass(items, root, path);
    }
};

}  // namespace

// ----- document-level nodes ----------------------------------------------------------------------

namespace detail {

struct node {
    virtual ~node() = default;
    virtual bool matches(const bj::value& doc) const noexcept = 0;
};

}  // namespace detail

namespace {

using detail::node;
using node_list = std::vector<std::unique_ptr<node>>;

struct and_node final : node {
    node_list children;
    bool matches(const bj::value& doc) const noexcept override {
        for (const auto& c : children) {
            if (!c->matches(doc)) return false;
        }
        return true;
    }
};

struct or_node final : node {
    node_list children;
    bool negate = false;  // $nor
    bool matches(const bj::value& doc) const noexcept override {
        for (const auto& c : children) {
            if (c->matches(doc)) return !negate;
        }
        return negate;
    }
};

struct field_node final : node {
    field_path path;
    op_list ops;
    explicit field_node(std::string_view p) : path(p) {}
    bool matches(const bj::value& doc) const noexcept override {
        // Most paths reach one value (no array on the way): resolve it once for all operators.
        const bj::value* v = &doc;
        for (const auto& seg : path.segments()) {
            if (const auto* object = v->if_object()) {
                v = find_member(*object, seg);
            } else if (const auto* array = v->if_array(); array && seg.is_index) {
                v = seg.index < array->size() ? &(*array)[seg.index] : nullptr;
            } else if (array) {
                return all_pass(ops, &doc, path.segments());
            } else {
                v = nullptr;
            }
            if (v == nullptr) break;
        }
        return all_pass_one(ops, v);
    }
};

}  // namespace

bool elem_match_op::element_matches(const bj::value& e) const noexcept {
    if (query) return e.is_object() && query->matches(e);
    return all_pass_one(ops, &e);
}

// ----- compiler ----------------------------------------------------------------------------------

namespace {

bool is_alias(std::string_view key) {
    return key == "gt" || key == "gte" || key == "lt" || key == "lte" || key == "ne" || key == "in";
}

/// An operand object is an operator expression when it has a `$` key, or when every key is one of
/// the seed's bare aliases.
bool is_operator_object(const bj::object& o) {
    if (o.empty()) return false;
    bool all_alias = true;
    for (const auto& m : o) {
        if (!m.key().empty() && m.key().front() == '$') return true;
        all_alias = all_alias && is_alias(m.key());
    }
    return all_alias;
}

std::string show(const bj::value& v) {
    std::string s = bj::serialize(v);
    return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

int type_code(const bj::value& v, const std::string& at) {
    static const std::unordered_map<std::string_view, int> names = {
        {"double", 1},     {"string", 2},  {"object", 3},      {"array", 4},      {"binData", 5},
        {"undefined", 6},  {"objectId", 7}, {"bool", 8},        {"date", 9},       {"null", 10},
        {"regex", 11},     {"dbPointer", 12}, {"javascript", 13}, {"symbol", 14},  {"javascriptWithScope", 15},
        {"int", 16},       {"timestamp", 17}, {"long", 18},      {"decimal", 19},   {"minKey", -1},
        {"maxKey", 127},   {"number", 0}};
    if (const auto* s = v.if_string()) {
        auto it = names.find(std::string_view(*s));
        if (it == names.end()) fail("$type in " + at + ": unknown type name " + show(v));
        return it->second;
    }
    if (v.is_number()) {
        double d = static_cast<double>(number_of(v));
        int code = static_cast<int>(d);
        if (d != code || !((code >= 1 && code <= 19) || code == -1 || code == 127))
            fail("$type in " + at + ": unknown type number " + show(v));
        return code;
    }
    fail("$type in " + at + " needs a type name or number, got " + show(v));
}

std::int64_t integral(const bj::value& v, const std::string& what) {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
        return static_cast<std::int64_t>(v.get_uint64());
    if (v.is_double()) {
        double d = v.get_double();
        if (std::isfinite(d) && std::fabs(d) < 9.2e18) return static_cast<std::int64_t>(d);
    }
    fail(what + " must be a number, got " + show(v));
}

/// JSON has no regex literal; the `x` flag (ignore whitespace and #-comments) is applied here
/// because RE2 lacks it.
std::string strip_extended(std::string_view pattern) {
    std::string out;
    bool in_class = false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        char c = pattern[i];
        if (c == '\\' && i + 1 < pattern.size()) {
            out += c;
            out += pattern[++i];
            continue;
        }
        if (in_class) {
            if (c == ']') in_class = false;
            out += c;
            continue;
        }
        if (c == '[') in_class = true;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') continue;
        if (c == '#') {
            while (i < pattern.size() && pattern[i] != '\n') ++i;
            continue;
        }
        out += c;
    }
    return out;
}

std::unique_ptr<regex_op> compile_regex(const bj::value& pattern, const bj::value* options, const std::string& at) {
    const auto* p = pattern.if_string();
    if (p == nullptr) fail("$regex in " + at + " needs a string, got " + show(pattern));
    std::string source(*p);
    RE2::Options re_options;
    re_options.set_log_errors(false);
    std::string prefix;
    bool icase = false, multiline = false, extended = false;
    if (options != nullptr) {
        const auto* o = options->if_string();
        if (o == nullptr) fail("$options in " + at + " needs a string, got " + show(*options));
        for (char flag : *o) {
            switch (flag) {
                case 'i': re_options.set_case_sensitive(false), icase = true; break;
                case 'm': prefix = "(?m)", multiline = true; break;
                case 's': re_options.set_dot_nl(true); break;
                case 'x': source = strip_extended(source), extended = true; break;
                default: fail("$options in " + at + ": unsupported flag '" + std::string(1, flag) + "'");
            }
        }
    }
    auto re = std::make_unique<RE2>(prefix + source, re_options);
    if (!re->ok()) fail("$regex in " + at + " does not compile: " + re->error());
    return std::make_unique<regex_op>(std::move(re), source, icase, multiline, extended);
}

class compiler {
public:
    std::unique_ptr<node> document(const bj::value& query) {
        const auto* object = query.if_object();
        if (object == nullptr) fail("a filter must be a JSON object, got " + show(query));
        auto all = std::make_unique<and_node>();
        for (const auto& member : *object) {
            std::string_view key = member.key();
            const bj::value& operand = member.value();
            if (!key.empty() && key.front() == '$') {
                if (key == "$comment") continue;
                if (key != "$and" && key != "$or" && key != "$nor") fail("unknown top-level operator " + std::string(key));
                const auto* list = operand.if_array();
                if (list == nullptr || list->empty())
                    fail(std::string(key) + " needs a non-empty array of filters, got " + show(operand));
                if (key == "$and") {
                    for (const auto& sub : *list) {
                        auto child = document(sub);
                        // Flatten so the subscription index sees the conjuncts.
                        if (auto* inner = dynamic_cast<and_node*>(child.get())) {
                            for (auto& c : inner->children) all->children.push_back(std::move(c));
                        } else {
                            all->children.push_back(std::move(child));
                        }
                    }
                } else {
                    auto any = std::make_unique<or_node>();
                    any->negate = key == "$nor";
                    for (const auto& sub : *list) any->children.push_back(document(sub));
                    all->children.push_back(std::move(any));
                }
                continue;
            }
            auto field = std::make_unique<field_node>(key);
            field->ops = operators(operand, field->path.segments());
            all->children.push_back(std::move(field));
        }
        merge_same_paths(*all);
        if (all->children.size() == 1) return std::move(all->children.front());
        return all;
    }

    /// The operand of a field: an operator expression or a value for implicit equality.
    op_list operators(const bj::value& operand, std::span<const path_segment> path) {
        op_list ops;
        const auto* object = operand.if_object();
        if (object == nullptr || !is_operator_object(*object)) {
            ops.push_back(std::make_unique<eq_op>(operand));
            return ops;
        }
        const std::string at = where(path);
        const bj::value* regex = nullptr;
        const bj::value* options = nullptr;
        for (const auto& member : *object) {
            std::string name(member.key());
            if (is_alias(name)) name = "$" + name;
            const bj::value& v = member.value();
            if (name == "$regex") {
                regex = &v;
            } else if (name == "$options") {
                options = &v;
            } else {
                ops.push_back(single(name, v, path, at));
            }
        }
        if (options != nullptr && regex == nullptr) fail("$options in " + at + " needs a $regex beside it");
        if (regex != nullptr) ops.push_back(compile_regex(*regex, options, at));
        return ops;
    }

private:
    /// `{"a": {"$gt": 1}, "$and": [{"a": {"$lt": 5}}]}`: one field node per path, so the path is
    /// resolved once per document.
    static void merge_same_paths(and_node& all) {
        std::vector<std::unique_ptr<node>> kept;
        for (auto& child : all.children) {
            auto* field = dynamic_cast<field_node*>(child.get());
            field_node* same = nullptr;
            for (auto& k : kept) {
                auto* f = dynamic_cast<field_node*>(k.get());
                if (field && f && f->path.text() == field->path.text()) same = f;
            }
            if (same != nullptr) {
                for (auto& o : field->ops) same->ops.push_back(std::move(o));
            } else {
                kept.push_back(std::move(child));
            }
        }
        all.children = std::move(kept);
    }

    std::unique_ptr<op> single(const std::string& name, const bj::value& v, std::span<const path_segment> path,
                               const std::string& at) {
        if (name == "$eq") return std::make_unique<eq_op>(v);
        if (name == "$ne") return negate(std::make_unique<eq_op>(v));
        if (name == "$gt") return std::make_unique<compare_op>(v, comparison::gt);
        if (name == "$gte") return std::make_unique<compare_op>(v, comparison::gte);
        if (name == "$lt") return std::make_unique<compare_op>(v, comparison::lt);
        if (name == "$lte") return std::make_unique<compare_op>(v, comparison::lte);
        if (name == "$in") return in(v, name, at);
        if (name == "$nin") return negate(in(v, name, at));
        if (name == "$exists") {
            bool want;
            if (v.is_bool()) {
                want = v.get_bool();
            } else if (v.is_number()) {
                want = number_of(v) != 0;
            } else {
                fail("$exists in " + at + " needs a boolean, got " + show(v));
            }
            std::unique_ptr<op> exists = std::make_unique<exists_op>();
            return want ? std::move(exists) : negate(std::move(exists));
        }
        if (name == "$type") {
            auto t = std::make_unique<type_op>();
            if (const auto* list = v.if_array()) {
                if (list->empty()) fail("$type in " + at + " needs at least one type");
                for (const auto& e : *list) t->codes.push_back(type_code(e, at));
            } else {
                t->codes.push_back(type_code(v, at));
            }
            return t;
        }
        if (name == "$size") {
            if (!v.is_number()) fail("$size in " + at + " needs a non-negative integer, got " + show(v));
            long double n = number_of(v);
            if (n < 0 || n != std::floor(n) || n > 1e15)
                fail("$size in " + at + " needs a non-negative integer, got " + show(v));
            return std::make_unique<size_op>(static_cast<std::size_t>(n));
        }
        if (name == "$mod") {
            const auto* list = v.if_array();
            if (list == nullptr || list->size() != 2)
                fail("$mod in " + at + " needs an array [divisor, remainder], got " + show(v));
            auto d = integral((*list)[0], "$mod divisor in " + at);
            auto r = integral((*list)[1], "$mod remainder in " + at);
            if (d == 0) fail("$mod in " + at + ": divisor must not be 0");
            return std::make_unique<mod_op>(d, r);
        }
        if (name == "$all") {
            const auto* list = v.if_array();
            if (list == nullptr) fail("$all in " + at + " needs an array, got " + show(v));
            auto all = std::make_unique<all_op>();
            for (const auto& item : *list) {
                const auto* o = item.if_object();
                if (o != nullptr && o->size() == 1 && o->begin()->key() == "$elemMatch") {
                    all->items.push_back(elem_match(o->begin()->value(), at));
                } else {
                    all->items.push_back(std::make_unique<eq_op>(item));
                }
            }
            return all;
        }
        if (name == "$elemMatch") return elem_match(v, at);
        if (name == "$not") {
            const auto* o = v.if_object();
            if (o == nullptr || o->empty() || !is_operator_object(*o))
                fail("$not in " + at + " needs an object of operators, got " + show(v));
            return std::make_unique<not_op>(operators(v, path));
        }
        fail("unknown operator " + name + " in " + at);
    }

    static std::unique_ptr<op> negate(std::unique_ptr<op> inner) {
        op_list ops;
        ops.push_back(std::move(inner));
        return std::make_unique<not_op>(std::move(ops));
    }

    std::unique_ptr<op> in(const bj::value& v, const std::string& name, const std::string& at) {
        const auto* list = v.if_array();
        if (list == nullptr) fail(name + " in " + at + " needs an array, got " + show(v));
        auto result = std::make_unique<in_op>();
        for (const auto& item : *list) {
            const auto* o = item.if_object();
            if (o != nullptr && o->contains("$regex")) {
                result->regexes.push_back(compile_regex(o->at("$regex"), o->if_contains("$options"), at));
                continue;
            }
            if (o != nullptr && is_operator_object(*o)) fail(name + " in " + at + " cannot contain operators");
            result->has_null = result->has_null || item.is_null();
            result->values.push_back(item);
        }
        return result;
    }

    std::unique_ptr<op> elem_match(const bj::value& v, const std::string& at) {
        const auto* o = v.if_object();
        if (o == nullptr) fail("$elemMatch in " + at + " needs an object, got " + show(v));
        auto result = std::make_unique<elem_match_op>();
        bool operator_form = !o->empty();
        for (const auto& m : *o) {
            std::string_view k = m.key();
            bool is_op = (!k.empty() && k.front() == '$' && k != "$and" && k != "$or" && k != "$nor") || is_alias(k);
            operator_form = operator_form && is_op;
        }
        if (operator_form) {
            result->ops = operators(v, {});
        } else {
            result->query = document(v);
        }
        return result;
    }
};

/// Conditions that hold for every match, read off the top-level conjunction.
void collect_constraints(const node* root, std::vector<field_constraint>& out) {
    std::vector<const field_node*> fields;
    if (const auto* f = dynamic_cast<const field_node*>(root)) fields.push_back(f);
    if (const auto* a = dynamic_cast<const and_node*>(root)) {
        for (const auto& c : a->children) {
            if (const auto* f = dynamic_cast<const field_node*>(c.get())) fields.push_back(f);
        }
    }
    auto indexable = [](const bj::value& v) { return v.is_string() || v.is_number() || v.is_bool(); };
    for (const auto* f : fields) {
        field_constraint range{&f->path, field_constraint::kind::range, {}};
        bool has_range = false;
        bool has_equals = false;
        for (const auto& o : f->ops) {
            if (has_equals) break;
            if (const auto* e = dynamic_cast<const eq_op*>(o.get()); e && indexable(e->expected)) {
                out.push_back({&f->path, field_constraint::kind::equals, {e->expected}});
                has_equals = true;
            } else if (const auto* in = dynamic_cast<const in_op*>(o.get());
                       in && in->regexes.empty() && !in->values.empty() &&
                       std::all_of(in->values.begin(), in->values.end(), indexable)) {
                out.push_back({&f->path, field_constraint::kind::equals, in->values});
                has_equals = true;
            } else if (const auto* all = dynamic_cast<const all_op*>(o.get())) {
                for (const auto& item : all->items) {
                    if (const auto* e2 = dynamic_cast<const eq_op*>(item.get()); e2 && indexable(e2->expected)) {
                        out.push_back({&f->path, field_constraint::kind::equals, {e2->expected}});
                        has_equals = true;
                        break;
                    }
                }
            } else if (const auto* c = dynamic_cast<const compare_op*>(o.get()); c && c->bound.is_number()) {
                double b = static_cast<double>(number_of(c->bound));
                if (c->how == comparison::gt || c->how == comparison::gte) {
                    bool open = c->how == comparison::gt;
                    if (b > range.low || (b == range.low && open)) range.low_open = open;
                    range.low = std::max(range.low, b);
                } else {
                    bool open = c->how == comparison::lt;
                    if (b < range.high || (b == range.high && open)) range.high_open = open;
                    range.high = std::min(range.high, b);
                }
                has_range = true;
            }
        }
        if (!has_equals && has_range) out.push_back(std::move(range));
    }
    // A lone equality or $in on one field is the whole filter; so are bounds made only of exact
    // numeric comparisons.
    const auto* f = dynamic_cast<const field_node*>(root);
    if (f == nullptr || out.size() != 1) return;
    if (out.front().type == field_constraint::kind::equals) {
        out.front().whole_filter = f->ops.size() == 1 && (dynamic_cast<const eq_op*>(f->ops.front().get()) ||
                                                          dynamic_cast<const in_op*>(f->ops.front().get()));
        return;
    }
    out.front().whole_filter = std::all_of(f->ops.begin(), f->ops.end(), [](const auto& o) {
        const auto* c = dynamic_cast<const compare_op*>(o.get());
        double ignored;
        return c != nullptr && exact_double(c->bound, ignored);
    });
}

}  // namespace

struct filter::impl {
    std::unique_ptr<node> root;  // owns copies of everything it needs from the query
    std::vector<field_constraint> constraints;
};

filter filter::compile(const bj::value& query) {
    auto result = std::make_shared<impl>();
    compiler c;
    result->root = c.document(query);
    collect_constraints(result->root.get(), result->constraints);
    return filter(std::move(result));
}

filter filter::compile(std::string_view query_text) { return compile(parse_json(query_text, "filter")); }

bool filter::matches(const bj::value& document) const noexcept { return impl_->root->matches(document); }

const std::vector<field_constraint>& filter::constraints() const noexcept { return impl_->constraints; }

}  // namespace sluice::json
