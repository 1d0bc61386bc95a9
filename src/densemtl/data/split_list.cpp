// Split files: one id per line (kept apart from dataset.cpp so that it builds without LibTorch, for
// the sanitizer and fuzz builds of fuzz/).
#include <algorithm>
#include <map>
#include <sstream>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"
#include "densemtl/data/dataset.h"

namespace densemtl::data {

std::vector<std::string> read_id_list(const fs::path& path, bool allow_empty) {
  std::string text = read_file(path);
  std::vector<std::string> ids;
  std::map<std::string, int> first_line;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string id = trim(line);
    if (id.empty()) continue;
    if (!valid_utf8(id) || std::any_of(id.begin(), id.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
      fail("{}:{}: the id is not valid UTF-8 text (ids name files and appear in JSON summaries)", path.string(), number);
    auto [it, added] = first_line.emplace(id, number);
    if (!added) fail("{}: id '{}' is listed twice (lines {} and {})", path.string(), id, it->second, number);
    ids.push_back(id);
  }
  if (ids.empty() && !allow_empty) fail("{}: split list is empty", path.string());
  return ids;
}

}  // namespace densemtl::data
