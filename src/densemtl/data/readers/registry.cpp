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

DatasetInfo standard_info(Format format, const fs::path& root) {
  DatasetInfo info;
  info.root = root;
  info.format = format;
  info.part_names = pascal_part_names();
  switch (format) {
    case Format::NYUD:
      info.name = "NYUD-v2";
      info.class_names = nyu40_class_names();
      info.tasks = {"semseg", "normals", "edge", "depth"};
      info.default_size = cv::Size(640, 480);
      info.edge_max_dist = 0.011;
      break;
    case Format::PASCAL:
      info.name = "PASCAL-Context";
      info.class_names = voc_class_names();
      info.tasks = {"semseg", "human_parts", "sal", "normals", "edge"};
      info.default_size = cv::Size(512, 512);
      info.edge_max_dist = 0.0075;
      break;
    case Format::MTAN:
      info.name = "NYUv2 (mtan)";
      info.class_names = mtan13_class_names();
      info.tasks = {"semseg", "normals", "depth"};
      info.default_size = cv::Size(384, 288);
      info.edge_max_dist = 0.011;
      break;
  }
  return info;
}

}  // namespace densemtl::data
