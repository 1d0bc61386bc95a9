#include "densemtl/core/error.h"
#include "densemtl/data/readers/readers.h"

namespace densemtl::data {

std::unique_ptr<Dataset> open_dataset(const fs::path& root, std::optional<Format> format) {
  require_dir(root, "dataset folder");
  Format f = format ? *format : detect_format(root);
  switch (f) {
    case Format::NYUD: return open_nyud(root);
    case Format::PASCAL: return open_pascal_context(root);
    case Format::MTAN: return open_mtan_nyu(root);
  }
  fail("unknown dataset format");
}

}  // namespace densemtl::data
