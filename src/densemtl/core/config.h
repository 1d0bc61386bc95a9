// Experiment configuration: YAML files validated against a schema. Every key is checked: an
// unknown key (with a "did you mean"), a wrong type or an out-of-range value is a one-line
// densemtl::Error naming the file, the key path and what was expected. `--set a.b=value`
// overrides are validated the same way. Missing optional keys take their defaults, so the
// resolved config (written beside every output) lists every setting the run used.
#pragma once

#include <yaml-cpp/yaml.h>

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

class Config {
 public:
  Config() = default;
  // Reads `file`, applies the overrides ("a.b=value") and validates everything.
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

  // The resolved config as YAML, keys in schema order, defaults filled in.
  std::string dump() const;
  void save(const fs::path& file) const;
  const std::string& source() const { return source_; }
  fs::path source_dir() const;

 private:
  const YAML::Node lookup(const std::string& key) const;
  YAML::Node root_;
  const Spec* schema_ = nullptr;
  std::string source_;
};

// A Markdown table of every key: name, type, default, meaning (for the README and --help).
std::string describe(const Spec& schema);

}  // namespace densemtl::config
