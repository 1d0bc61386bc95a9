#include "densemtl/core/dataset_info.h"

#include <algorithm>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"

namespace densemtl::data {

std::string format_name(Format format) {
  switch (format) {
    case Format::NYUD: return "nyud";
    case Format::PASCAL: return "pascal";
    case Format::MTAN: return "mtan";
  }
  return "?";
}

Format parse_format(const std::string& text) {
  std::string t = lower(text);
  if (t == "nyud" || t == "synthetic") return Format::NYUD;
  if (t == "pascal") return Format::PASCAL;
  if (t == "mtan") return Format::MTAN;
  throw UsageError(fmt::format("unknown dataset format '{}' (expected nyud, pascal or mtan)", text));
}

bool DatasetInfo::has_task(const std::string& task) const { return std::find(tasks.begin(), tasks.end(), task) != tasks.end(); }

}  // namespace densemtl::data
