// Experiment configuration: YAML files validated against a schema. Every key is checked: an
// unknown key (with a "did you mean"), a wrong type or an out-of-range value is a one-line
// densemtl::Error naming the file, the key path and what was expected. `--set a.b=value`
// overrides are validated the same way. Missing optional keys take their defaults, so the
// resolved config (written beside every output) lists every setting the run used.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "densemtl/core/fs.h"

namespace densemtl::config {

enum class Type { Bool, Int, Float, String, Path, Enum, IntList, FloatList, StringList, FloatMap, Section };

struct Spec {
  std::string name;
  Type type = Type::Section;
  std::string help;
  YAML::Node default_value;             // undefined when required
  bool required = false;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_exclusive = false;
  std::vector<std::string> choices;     // Enum values, allowed list items, allowed map keys
  int min_items = 0, max_items = 1 << 30;
  std::vector<Spec> children;           // Section
  // A conditional section (a method's own options): present only when `active` holds for the
  // validated keys of its parent section so far (siblings listed before it), e.g. model.mtan
  // only when model.architecture is mtan. Setting a key of an inactive section is an error that
  // says when it applies (`active_when`); an inactive section is left out of the resolved config.
  std::function<bool(const YAML::Node& parent)> active;
  std::string active_when;

  const Spec* child(const std::string& key) const;
};

// Schema builders.
Spec section(std::string name, std::string help, std::vector<Spec> children);
Spec boolean(std::string name, bool value, std::string help);
Spec integer(std::string name, long long value, double min, double max, std::string help);
Spec real(std::string name, double value, double min, double max, std::string help);
Spec text(std::string name, std::string value, std::string help);
Spec path(std::string name, std::string value, std::string help);
Spec choice(std::string name, std::string value, std::vector<std::string> choices, std::string help);
Spec int_list(std::string name, std::vector<long long> value, double min, double max, int min_items, int max_items, std::string help);
Spec float_list(std::string name, std::vector<double> value, double min, double max, int min_items, int max_items, std::string help);
Spec string_list(std::string name, std::vector<std::string> value, std::vector<std::string> choices, int min_items, std::string help);
Spec float_map(std::string name, std::vector<std::string> keys, double min, double max, std::string help);
// Marks a spec as required (no default).
Spec required(Spec spec);
// Lower bound excluded (e.g. a learning rate > 0).
Spec exclusive_min(Spec spec);
// A section that applies only when its sibling `key` (an enum) equals `value`.
Spec only_when(Spec section, const std::string& key, const std::string& value);
// A section that applies only when one of the sibling string lists `keys` contains `item`.
Spec only_when_listed(Spec section, const std::vector<std::string>& keys, const std::string& item);

class Config {
 public:
  Config() = default;
  // Reads `file`, applies the overrides ("a.b=value") and validates everything. A file may start
  // from a base config, `base: other.yaml` (relative to the file; mmsegmentation's `_base_`): the
  // base is read first (its own base before it), then the file's keys override it, sections key
  // by key and any other value (a list too) as a whole. A missing base or a cycle is an error
  // naming the chain of files. The resolved config has no `base`: it states every key.
  static Config load(const Spec& schema, const fs::path& file, const std::vector<std::string>& overrides = {});
  // Same from YAML text (`source` names it in errors).
  static Config parse(const Spec& schema, const std::string& yaml, const std::string& source,
                      const std::vector<std::string>& overrides = {});

  bool get_bool(const std::string& key) const;
  long long get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::vector<long long> get_int_list(const std::string& key) const;
  std::vector<double> get_float_list(const std::string& key) const;
  std::vector<std::string> get_string_list(const std::string& key) const;
  std::map<std::string, double> get_float_map(const std::string& key) const;

  // Whether `key` is in the resolved config (false for the keys of an inactive section).
  bool has(const std::string& key) const;

  // The resolved config as YAML, keys in schema order, defaults filled in.
  std::string dump() const;
  void save(const fs::path& file) const;
  const std::string& source() const { return source_; }
  fs::path source_dir() const;

 private:
  static Config from_tree(const Spec& schema, YAML::Node raw, const std::string& source, const std::vector<std::string>& overrides);
  const YAML::Node lookup(const std::string& key) const;
  YAML::Node root_;
  const Spec* schema_ = nullptr;
  std::string source_;
};

// The keys of one section of a config, read by their names within it: a method's own options
// (model.<architecture>, balancer.<method>, tasks.<task>) as the method's file declared them.
class View {
 public:
  View() = default;
  View(const Config& config, std::string section) : config_(&config), section_(std::move(section)) {}
  bool get_bool(const std::string& key) const { return config_->get_bool(full(key)); }
  long long get_int(const std::string& key) const { return config_->get_int(full(key)); }
  double get_float(const std::string& key) const { return config_->get_float(full(key)); }
  std::string get_string(const std::string& key) const { return config_->get_string(full(key)); }
  std::vector<long long> get_int_list(const std::string& key) const { return config_->get_int_list(full(key)); }
  std::vector<double> get_float_list(const std::string& key) const { return config_->get_float_list(full(key)); }
  std::vector<std::string> get_string_list(const std::string& key) const { return config_->get_string_list(full(key)); }
  // True when the view has a config behind it (a default-constructed view reads nothing).
  bool bound() const { return config_ != nullptr; }
  // "file: section.key", for errors about one of these keys.
  std::string where(const std::string& key) const { return config_->source() + ": " + full(key); }
  std::string full(const std::string& key) const { return section_.empty() ? key : section_ + "." + key; }

 private:
  const Config* config_ = nullptr;
  std::string section_;
};

// A view on the defaults of `keys` as section `section` (e.g. "model.mtan"), for a method built
// without an experiment config (tests, benchmarks). Cached: the same section gives the same view.
View defaults(const std::string& section, const std::vector<Spec>& keys);

// A Markdown table of every key: name, type, default, meaning (for the README and --help).
std::string describe(const Spec& schema);

}  // namespace densemtl::config
