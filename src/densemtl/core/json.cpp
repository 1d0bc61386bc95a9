#include "densemtl/core/json.h"

#include "densemtl/core/error.h"

namespace densemtl {

Json read_json(const fs::path& path) {
  std::string text = read_file(path);
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    fail("{}: not valid JSON ({})", path.string(), e.what());
  }
}

OrderedJson read_ordered_json(const fs::path& path) {
  std::string text = read_file(path);
  try {
    return OrderedJson::parse(text);
  } catch (const OrderedJson::parse_error& e) {
    fail("{}: not valid JSON ({})", path.string(), e.what());
  }
}

void write_json(const fs::path& path, const Json& value, int indent) {
  write_file_atomic(path, value.dump(indent) + "\n");
}

void write_json(const fs::path& path, const OrderedJson& value, int indent) {
  write_file_atomic(path, value.dump(indent) + "\n");
}

}  // namespace densemtl
