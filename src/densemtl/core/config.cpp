#include "densemtl/core/config.h"
#include "densemtl/core/yaml_tree.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"

namespace densemtl::config {

const Spec* Spec::child(const std::string& key) const {
  for (const auto& c : children)
    if (c.name == key) return &c;
  return nullptr;
}

Spec section(std::string name, std::string help, std::vector<Spec> children) {
  Spec s;
  s.name = std::move(name);
  s.type = Type::Section;
  s.help = std::move(help);
  s.children = std::move(children);
  return s;
}

namespace {

Spec leaf(std::string name, Type type, YAML::Node value, std::string help) {
  Spec s;
  s.name = std::move(name);
  s.type = type;
  s.default_value = std::move(value);
  s.help = std::move(help);
  return s;
}

template <typename T>
YAML::Node sequence(const std::vector<T>& v) {
  YAML::Node n(YAML::NodeType::Sequence);
  for (const auto& x : v) n.push_back(x);
  n.SetStyle(YAML::EmitterStyle::Flow);
  return n;
}

}  // namespace

Spec boolean(std::string name, bool value, std::string help) { return leaf(std::move(name), Type::Bool, YAML::Node(value), std::move(help)); }
Spec integer(std::string name, long long value, double min, double max, std::string help) {
  Spec s = leaf(std::move(name), Type::Int, YAML::Node(value), std::move(help));
  s.min = min;
  s.max = max;
  return s;
}
Spec real(std::string name, double value, double min, double max, std::string help) {
  Spec s = leaf(std::move(name), Type::Float, YAML::Node(value), std::move(help));
  s.min = min;
  s.max = max;
  return s;
}
Spec text(std::string name, std::string value, std::string help) { return leaf(std::move(name), Type::String, YAML::Node(value), std::move(help)); }
Spec path(std::string name, std::string value, std::string help) { return leaf(std::move(name), Type::Path, YAML::Node(value), std::move(help)); }
Spec choice(std::string name, std::string value, std::vector<std::string> choices, std::string help) {
  Spec s = leaf(std::move(name), Type::Enum, YAML::Node(value), std::move(help));
  s.choices = std::move(choices);
  return s;
}
Spec int_list(std::string name, std::vector<long long> value, double min, double max, int min_items, int max_items, std::string help) {
  Spec s = leaf(std::move(name), Type::IntList, sequence(value), std::move(help));
  s.min = min;
  s.max = max;
  s.min_items = min_items;
  s.max_items = max_items;
  return s;
}
Spec float_list(std::string name, std::vector<double> value, double min, double max, int min_items, int max_items, std::string help) {
  Spec s = leaf(std::move(name), Type::FloatList, sequence(value), std::move(help));
  s.min = min;
  s.max = max;
  s.min_items = min_items;
  s.max_items = max_items;
  return s;
}
Spec string_list(std::string name, std::vector<std::string> value, std::vector<std::string> choices, int min_items, std::string help) {
  Spec s = leaf(std::move(name), Type::StringList, sequence(value), std::move(help));
  s.choices = std::move(choices);
  s.min_items = min_items;
  return s;
}
Spec float_map(std::string name, std::vector<std::string> keys, double min, double max, std::string help) {
  Spec s = leaf(std::move(name), Type::FloatMap, YAML::Node(YAML::NodeType::Map), std::move(help));
  s.choices = std::move(keys);
  s.min = min;
  s.max = max;
  return s;
}
Spec required(Spec spec) {
  spec.required = true;
  spec.default_value = YAML::Node();
  return spec;
}
Spec exclusive_min(Spec spec) {
  spec.min_exclusive = true;
  return spec;
}
Spec only_when(Spec section, const std::string& key, const std::string& value) {
  section.active = [key, value](const YAML::Node& parent) {
    YAML::Node v = parent[key];
    return v.IsDefined() && v.IsScalar() && v.Scalar() == value;
  };
  section.active_when = fmt::format("{} is {}", key, value);
  return section;
}
Spec only_when_listed(Spec section, const std::vector<std::string>& keys, const std::string& item) {
  section.active = [keys, item](const YAML::Node& parent) {
    for (const auto& k : keys) {
      YAML::Node v = parent[k];
      if (v.IsDefined() && v.IsSequence())
        for (const auto& x : v)
          if (x.IsScalar() && x.Scalar() == item) return true;
    }
    return false;
  };
  section.active_when = fmt::format("{} lists {}", join(keys, " or "), item);
  return section;
}

namespace {

std::string type_name(const Spec& s) {
  switch (s.type) {
    case Type::Bool: return "true or false";
    case Type::Int: return "an integer";
    case Type::Float: return "a number";
    case Type::String: return "a string";
    case Type::Path: return "a file path";
    case Type::Enum: return "one of " + join(s.choices, ", ");
    case Type::IntList: return "a list of integers";
    case Type::FloatList: return "a list of numbers";
    case Type::StringList: return s.choices.empty() ? "a list of strings" : "a list of " + join(s.choices, ", ");
    case Type::FloatMap: return "a mapping of names to numbers";
    case Type::Section: return "a section of keys";
  }
  return "?";
}

std::string show(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "nothing";
  if (n.IsScalar()) return "'" + n.Scalar() + "'";
  if (n.IsSequence()) return "a list";
  return "a section";
}

std::string range_text(const Spec& s) {
  bool lo = std::isfinite(s.min), hi = std::isfinite(s.max);
  auto num = [](double v) {
    if (std::fabs(v - std::round(v)) < 1e-12 && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<long long>(std::round(v)));
    return fmt::format("{}", v);
  };
  if (lo && hi) return fmt::format("in {}{}, {}]", s.min_exclusive ? "(" : "[", num(s.min), num(s.max));
  if (lo) return fmt::format("{} {}", s.min_exclusive ? ">" : ">=", num(s.min));
  if (hi) return fmt::format("<= {}", num(s.max));
  return "";
}

struct Validator {
  std::string source;

  [[noreturn]] void error(const std::string& key, const std::string& what) const {
    throw Error(fmt::format("{}: {}: {}", source, key, what));
  }

  double number(const Spec& s, const YAML::Node& n, const std::string& key, bool integral) const {
    if (!n.IsScalar()) error(key, fmt::format("expected {}, got {}", integral ? "an integer" : "a number", show(n)));
    double v;
    try {
      if (integral) v = static_cast<double>(n.as<long long>());
      else v = n.as<double>();
    } catch (const YAML::Exception&) {
      error(key, fmt::format("expected {}, got {}", integral ? "an integer" : "a number", show(n)));
    }
    if (!std::isfinite(v)) error(key, fmt::format("expected a finite number, got {}", show(n)));
    bool below = s.min_exclusive ? v <= s.min : v < s.min;
    if (below || v > s.max)
      error(key, fmt::format("expected {} {}, got {}", integral ? "an integer" : "a number", range_text(s), n.Scalar()));
    return v;
  }

  // Validates `n` against `s`; returns the canonical node (defaults filled, schema order).
  YAML::Node check(const Spec& s, const YAML::Node& n, const std::string& key) const {
    if (s.type == Type::Section) return section(s, n, key);
    if (!n.IsDefined() || n.IsNull()) {
      if (s.required) error(key, fmt::format("missing required key (expected {})", type_name(s)));
      YAML::Node d = YAML::Clone(s.default_value);
      if (d.IsMap() || d.IsSequence()) d.SetStyle(YAML::EmitterStyle::Flow);
      return d;
    }
    switch (s.type) {
      case Type::Bool: {
        bool v;
        if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) error(key, fmt::format("expected true or false, got {}", show(n)));
        return YAML::Node(v);
      }
      case Type::Int: return YAML::Node(static_cast<long long>(number(s, n, key, true)));
      case Type::Float: return YAML::Node(number(s, n, key, false));
      case Type::String:
      case Type::Path:
        if (!n.IsScalar()) error(key, fmt::format("expected {}, got {}", type_name(s), show(n)));
        return YAML::Node(n.Scalar());
      case Type::Enum:
        if (!n.IsScalar()) error(key, fmt::format("expected one of {}, got {}", join(s.choices, ", "), show(n)));
        return YAML::Node(choice(s, n.Scalar(), key));
      case Type::IntList:
      case Type::FloatList:
      case Type::StringList: return list(s, n, key);
      case Type::FloatMap: return map(s, n, key);
      default: break;
    }
    error(key, "internal: unhandled type");
  }

  // One of `s.choices`, or an error with the nearest one.
  std::string choice(const Spec& s, const std::string& v, const std::string& key) const {
    if (std::find(s.choices.begin(), s.choices.end(), v) != s.choices.end()) return v;
    const std::string hint = closest(v, s.choices);
    error(key, fmt::format("expected one of {}, got '{}'{}", join(s.choices, ", "), v, hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  }

  // A section: no unknown key; each child validated in schema order, inactive ones left out.
  YAML::Node section(const Spec& s, const YAML::Node& n, const std::string& key) const {
    const bool is_map = n.IsDefined() && n.IsMap();
    if (n.IsDefined() && !n.IsNull() && !is_map) error(key, fmt::format("expected a section of keys, got {}", show(n)));
    if (is_map) {
      std::vector<std::string> known;
      for (const auto& c : s.children) known.push_back(c.name);
      for (const auto& kv : n) {
        const std::string k = kv.first.Scalar();
        if (s.child(k)) continue;
        const std::string full = key.empty() ? k : key + "." + k, hint = closest(k, known);
        throw Error(fmt::format("{}: unknown key '{}'{} (keys here: {})", source, full,
                                hint.empty() ? "" : " (did you mean '" + hint + "'?)", join(known, ", ")));
      }
    }
    YAML::Node out(YAML::NodeType::Map);
    for (const auto& c : s.children) {
      const std::string full = key.empty() ? c.name : key + "." + c.name;
      const YAML::Node child = is_map ? n[c.name] : YAML::Node();
      if (c.active && !c.active(out)) {
        if (child.IsDefined() && !child.IsNull() && !(child.IsMap() && child.size() == 0)) {
          const std::string first = child.IsMap() ? full + "." + child.begin()->first.Scalar() : full;
          error(first, fmt::format("set, but this section applies only when {}", c.active_when));
        }
        continue;
      }
      out[c.name] = check(c, child, full);
    }
    return out;
  }

  YAML::Node list(const Spec& s, const YAML::Node& n, const std::string& key) const {
    if (!n.IsSequence()) error(key, fmt::format("expected {}, got {}", type_name(s), show(n)));
    const int count = static_cast<int>(n.size());
    if (count < s.min_items || count > s.max_items) {
      const std::string want = s.min_items == s.max_items ? fmt::format("exactly {}", s.min_items)
                               : s.max_items >= (1 << 30) ? fmt::format("at least {}", s.min_items)
                                                          : fmt::format("{} to {}", s.min_items, s.max_items);
      error(key, fmt::format("expected {} item(s), got {}", want, count));
    }
    YAML::Node out(YAML::NodeType::Sequence);
    for (std::size_t i = 0; i < n.size(); ++i) {
      const std::string item = fmt::format("{}[{}]", key, i);
      if (s.type == Type::IntList) out.push_back(static_cast<long long>(number(s, n[i], item, true)));
      else if (s.type == Type::FloatList) out.push_back(number(s, n[i], item, false));
      else {
        if (!n[i].IsScalar()) error(item, fmt::format("expected a string, got {}", show(n[i])));
        const std::string v = s.choices.empty() ? n[i].Scalar() : choice(s, n[i].Scalar(), item);
        // A name listed twice in a list of choices (the same task twice) means nothing more.
        for (std::size_t j = 0; !s.choices.empty() && j < i; ++j)
          if (n[j].Scalar() == v) error(item, fmt::format("'{}' is listed twice (also {}[{}])", v, key, j));
        out.push_back(v);
      }
    }
    out.SetStyle(YAML::EmitterStyle::Flow);
    return out;
  }

  YAML::Node map(const Spec& s, const YAML::Node& n, const std::string& key) const {
    if (!n.IsMap()) error(key, fmt::format("expected a mapping of names to numbers, got {}", show(n)));
    YAML::Node out(YAML::NodeType::Map);
    for (const auto& kv : n) {
      const std::string k = kv.first.Scalar();
      if (!s.choices.empty() && std::find(s.choices.begin(), s.choices.end(), k) == s.choices.end()) {
        const std::string hint = closest(k, s.choices);
        error(key + "." + k, fmt::format("unknown name (expected one of {}){}", join(s.choices, ", "),
                                         hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
      }
      out[k] = number(s, kv.second, key + "." + k, false);
    }
    out.SetStyle(YAML::EmitterStyle::Flow);
    return out;
  }
};

// A key given twice in one mapping (YAML leaves it undefined; yaml-cpp keeps the first).
void check_duplicate_keys(const YAML::Node& n, const std::string& source, const std::string& path) {
  if (n.IsMap()) {
    std::map<std::string, int> first_line;
    for (const auto& kv : n) {
      const std::string k = kv.first.Scalar(), full = path.empty() ? k : path + "." + k;
      auto [it, added] = first_line.emplace(k, kv.first.Mark().line + 1);
      if (!added) fail("{}:{}: {}: duplicate key (first given on line {})", source, kv.first.Mark().line + 1, full, it->second);
      check_duplicate_keys(kv.second, source, full);
    }
  } else if (n.IsSequence()) {
    for (const auto& e : n) check_duplicate_keys(e, source, path);
  }
}

}  // namespace

namespace {

// The YAML a config may use: plain mappings, lists and values in one document. Anchors and
// aliases are refused (no config needs them, and a few hundred bytes of nested aliases expand into
// billions of nodes), and so is a second document (it would be ignored).
class PlainYaml : public YAML::EventHandler {
 public:
  explicit PlainYaml(std::string source) : source_(std::move(source)) {}
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ > 1) bad(mark, "a second YAML document ('---'): a config is one document");
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { check(mark, anchor); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { bad(mark, "a YAML alias ('*'): write the value out"); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string&) override { check(mark, anchor); }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    check(mark, anchor);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    check(mark, anchor);
  }
  void OnMapEnd() override {}

 private:
  void check(const YAML::Mark& mark, YAML::anchor_t anchor) const {
    if (anchor != YAML::NullAnchor) bad(mark, "a YAML anchor ('&'): configs do not use anchors and aliases; write the values out");
  }
  [[noreturn]] void bad(const YAML::Mark& mark, const std::string& what) const {
    fail("{}:{}: {}", source_, mark.line + 1, what);
  }
  std::string source_;
  int documents_ = 0;
};

// YAML indents with spaces: a tab in a line's indentation is named (yaml-cpp's own message would
// not say it).
void check_indentation(const std::string& text, const std::string& source) {
  int line = 1;
  for (std::size_t i = 0; i < text.size(); ++line) {
    std::size_t end = text.find('\n', i);
    if (end == std::string::npos) end = text.size();
    for (std::size_t j = i; j < end && (text[j] == ' ' || text[j] == '\t'); ++j)
      if (text[j] == '\t') fail("{}:{}: indented with a tab; YAML indents with spaces", source, line);
    i = end + 1;
  }
}

}  // namespace

YAML::Node parse_yaml(const std::string& text, const std::string& source) {
  try {
    check_indentation(text, source);
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    PlainYaml plain(source);
    while (parser.HandleNextDocument(plain)) {
    }
    YAML::Node n = YAML::Load(text);
    if (n.IsNull()) return YAML::Node(YAML::NodeType::Map);
    if (!n.IsMap()) fail("{}: expected a YAML mapping of keys at the top level", source);
    check_duplicate_keys(n, source, "");
    return n;
  } catch (const YAML::ParserException& e) {
    fail("{}:{}:{}: YAML syntax error: {}", source, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
}

void apply_override(const Spec& schema, YAML::Node& root, const std::string& expr) {
  auto eq = expr.find('=');
  if (eq == std::string::npos || eq == 0) fail("--set {}: expected key.path=value", expr);
  std::string key = trim(expr.substr(0, eq)), value = expr.substr(eq + 1);
  auto parts = split(key, '.');
  const Spec* spec = &schema;
  std::string so_far;
  // One entry of a mapping (tasks.loss_weights.semseg=2): the entry's name after the map's key.
  std::string map_entry;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    if (spec->type == Type::FloatMap && i + 1 == parts.size()) {
      if (!spec->choices.empty() && std::find(spec->choices.begin(), spec->choices.end(), p) == spec->choices.end()) {
        std::string hint = closest(p, spec->choices);
        fail("--set {}: unknown name '{}' in {} (expected one of {}){}", expr, p, so_far, join(spec->choices, ", "),
             hint.empty() ? "" : " (did you mean '" + hint + "'?)");
      }
      map_entry = p;
      break;
    }
    if (spec->type != Type::Section) fail("--set {}: '{}' has no sub-keys", expr, so_far);
    const Spec* next = spec->child(p);
    if (!next) {
      std::vector<std::string> known;
      for (const auto& c : spec->children) known.push_back(c.name);
      std::string hint = closest(p, known);
      std::string full = so_far.empty() ? p : so_far + "." + p;
      fail("--set {}: unknown key '{}'{} (keys here: {})", expr, full, hint.empty() ? "" : " (did you mean '" + hint + "'?)",
           join(known, ", "));
    }
    spec = next;
    so_far = so_far.empty() ? p : so_far + "." + p;
  }
  YAML::Node parsed;
  try {
    parsed = YAML::Load(value);
  } catch (const YAML::ParserException& e) {
    fail("--set {}: cannot parse the value ({})", expr, e.msg);
  }
  check_duplicate_keys(parsed, "--set " + expr, key);
  if (!map_entry.empty()) {
    Spec entry = *spec;
    entry.type = Type::Float;
    Validator{"--set " + expr}.check(entry, parsed, key);
  }
  // Walk/create the path.
  // (yaml-cpp's Node::operator= writes into the tree; reset() rebinds a handle.)
  YAML::Node at;
  at.reset(root);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = at[parts[i]];
    if (!next.IsDefined() || !next.IsMap()) {
      at[parts[i]] = YAML::Node(YAML::NodeType::Map);
      next.reset(at[parts[i]]);
    }
    at.reset(next);
  }
  at[parts.back()] = parsed;
  // Validate just this value with a clear source.
  if (map_entry.empty()) Validator{"--set " + expr}.check(*spec, parsed, key);
}

void merge_into(YAML::Node into, const YAML::Node& over) {
  for (const auto& kv : over) {
    const std::string key = kv.first.Scalar();
    YAML::Node existing = into[key];
    if (existing.IsDefined() && existing.IsMap() && kv.second.IsMap()) merge_into(existing, kv.second);
    else into[key] = YAML::Clone(kv.second);
  }
}

namespace {

std::string chain_text(const std::vector<fs::path>& chain, const fs::path& last) {
  std::vector<std::string> names;
  for (const auto& f : chain) names.push_back(f.string());
  names.push_back(last.string());
  return join(names, " -> ");
}

// `file` with its base configs resolved (`chain`: the files that named it as their base, outermost
// first).
YAML::Node read_with_bases(const fs::path& file, std::vector<fs::path>& chain) {
  YAML::Node node = parse_yaml(read_file(file), file.string());
  const YAML::Node base = node["base"];
  if (!base.IsDefined()) return node;
  if (!base.IsScalar() || base.Scalar().empty()) fail("{}: base: expected the file name of a base config, got {}", file.string(), show(base));
  fs::path base_file = base.Scalar();
  if (base_file.is_relative()) base_file = file.parent_path() / base_file;
  chain.push_back(file);
  if (!fs::is_regular_file(base_file)) fail("{}: base: {} not found (base chain: {})", file.string(), base_file.string(), chain_text(chain, base_file));
  for (const auto& f : chain)
    if (fs::equivalent(f, base_file)) fail("{}: base: the base configs form a cycle: {}", file.string(), chain_text(chain, base_file));
  YAML::Node merged = read_with_bases(base_file, chain);
  chain.pop_back();
  node.remove("base");
  merge_into(merged, node);
  return merged;
}

}  // namespace

Config Config::from_tree(const Spec& schema, YAML::Node raw, const std::string& source, const std::vector<std::string>& overrides) {
  if (raw["base"].IsDefined()) fail("{}: base: a base config can be named only in a config file", source);
  for (const auto& o : overrides) apply_override(schema, raw, o);
  Config c;
  c.schema_ = &schema;
  c.source_ = source;
  c.root_ = Validator{source}.check(schema, raw, "");
  return c;
}

Config Config::parse(const Spec& schema, const std::string& yaml, const std::string& source,
                     const std::vector<std::string>& overrides) {
  return from_tree(schema, parse_yaml(yaml, source), source, overrides);
}

Config Config::load(const Spec& schema, const fs::path& file, const std::vector<std::string>& overrides) {
  require_file(file, "config file");
  std::vector<fs::path> chain;
  return from_tree(schema, read_with_bases(file, chain), file.string(), overrides);
}

fs::path Config::source_dir() const { return fs::path(source_).parent_path(); }

bool Config::has(const std::string& key) const {
  auto parts = split(key, '.');
  YAML::Node n;
  n.reset(root_);
  for (const auto& p : parts) {
    if (!n.IsMap()) return false;
    YAML::Node next = n[p];
    if (!next.IsDefined()) return false;
    n.reset(next);
  }
  return true;
}

const YAML::Node Config::lookup(const std::string& key) const {
  auto parts = split(key, '.');
  const Spec* spec = schema_;
  YAML::Node n;
  n.reset(root_);
  for (const auto& p : parts) {
    spec = spec ? spec->child(p) : nullptr;
    if (!spec) throw std::logic_error("config key not in schema: " + key);
    YAML::Node next = n[p];
    if (!next.IsDefined()) throw std::logic_error("config key of an inactive section read: " + key);
    n.reset(next);
  }
  return n;
}

bool Config::get_bool(const std::string& key) const { return lookup(key).as<bool>(); }
long long Config::get_int(const std::string& key) const { return lookup(key).as<long long>(); }
double Config::get_float(const std::string& key) const { return lookup(key).as<double>(); }
std::string Config::get_string(const std::string& key) const { return lookup(key).as<std::string>(); }
std::vector<long long> Config::get_int_list(const std::string& key) const { return lookup(key).as<std::vector<long long>>(); }
std::vector<double> Config::get_float_list(const std::string& key) const { return lookup(key).as<std::vector<double>>(); }
std::vector<std::string> Config::get_string_list(const std::string& key) const { return lookup(key).as<std::vector<std::string>>(); }
std::map<std::string, double> Config::get_float_map(const std::string& key) const {
  std::map<std::string, double> out;
  for (const auto& kv : lookup(key)) out[kv.first.Scalar()] = kv.second.as<double>();
  return out;
}

std::string Config::dump() const {
  YAML::Emitter e;
  e << root_;
  return std::string(e.c_str()) + "\n";
}

void Config::save(const fs::path& file) const {
  write_file_atomic(file, "# resolved configuration (every key, defaults filled in)\n# source: " + source_ + "\n" + dump());
}

View defaults(const std::string& section_path, const std::vector<Spec>& keys) {
  static std::mutex mutex;
  static std::map<std::string, std::pair<std::unique_ptr<Spec>, std::unique_ptr<Config>>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(section_path);
  if (it == cache.end()) {
    // Nest the keys under the section's path, so the view reads them by their full names.
    auto parts = split(section_path, '.');
    Spec node = section(parts.back(), "", keys);
    for (std::size_t i = parts.size() - 1; i-- > 0;) node = section(parts[i], "", {node});
    auto schema = std::make_unique<Spec>(section("", "", {node}));
    auto config = std::make_unique<Config>(Config::parse(*schema, "", "defaults of " + section_path));
    it = cache.emplace(section_path, std::make_pair(std::move(schema), std::move(config))).first;
  }
  return View(*it->second.second, section_path);
}

namespace {

void describe_into(const Spec& s, const std::string& prefix, const std::string& when, std::string& out) {
  for (const auto& c : s.children) {
    std::string key = prefix.empty() ? c.name : prefix + "." + c.name;
    if (c.type == Type::Section) {
      describe_into(c, key, c.active_when.empty() ? when : c.active_when, out);
      continue;
    }
    std::string def;
    if (c.required) def = "required";
    else {
      YAML::Emitter e;
      e << YAML::Flow << c.default_value;
      def = e.c_str();
      if (c.type == Type::Float) def = fmt::format("{}", c.default_value.as<double>());  // shortest form
      if (def.empty() || def == "\"\"" || def == "''") def = "\"\"";
    }
    std::string type = type_name(c);
    std::string range = range_text(c);
    if (!range.empty() && (c.type == Type::Int || c.type == Type::Float || c.type == Type::IntList || c.type == Type::FloatList))
      type += " " + range;
    std::string help = c.help;
    if (!when.empty()) help += fmt::format(" (when {})", when);
    out += fmt::format("| `{}` | {} | `{}` | {} |\n", key, type, def, help);
  }
}

}  // namespace

std::string describe(const Spec& schema) {
  std::string out = "| key | type | default | meaning |\n|---|---|---|---|\n";
  describe_into(schema, "", "", out);
  return out;
}

}  // namespace densemtl::config
