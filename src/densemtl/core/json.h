// JSON files (nlohmann::json): reading with errors that name the file, atomic writing.
#pragma once

#include <nlohmann/json.hpp>

#include "densemtl/core/fs.h"

namespace densemtl {

using Json = nlohmann::json;
// Keys in insertion order, for human-facing files (metrics, summaries).
using OrderedJson = nlohmann::ordered_json;

Json read_json(const fs::path& path);
// The same, keys in the file's order.
OrderedJson read_ordered_json(const fs::path& path);
void write_json(const fs::path& path, const Json& value, int indent = 2);
void write_json(const fs::path& path, const OrderedJson& value, int indent = 2);

}  // namespace densemtl
