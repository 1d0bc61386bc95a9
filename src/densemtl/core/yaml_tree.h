// The YAML trees behind config files, for code that composes configs from pieces (the benchmark
// suite builds each cell's experiment from a protocol's fragments): parsing with the config
// loader's errors, and one `--set key=value` applied and validated against a schema.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

#include "densemtl/core/config.h"

namespace densemtl::config {

// A YAML mapping (empty text gives an empty map); a syntax error, a non-mapping document or a key
// given twice is a densemtl::Error naming `source` and the line.
YAML::Node parse_yaml(const std::string& text, const std::string& source);

// Writes `over`'s keys into `into`: sections merge key by key, anything else (a value, a list)
// replaces what `into` had (base configs, benchmark protocol fragments).
void merge_into(YAML::Node into, const YAML::Node& over);

// Applies "a.b=value" to `root`, validating the key path and the value against `schema`.
void apply_override(const Spec& schema, YAML::Node& root, const std::string& expr);

}  // namespace densemtl::config
