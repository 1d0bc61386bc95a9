// What a dataset is, as every layer above core needs to know it: its label space (tasks, class
// and part names), its on-disk layout and its evaluation conventions. Tasks need it to size their
// outputs and name their classes, readers fill it in, models and evaluation read it; so it lives
// here, below all of them.
#pragma once

#include <opencv2/core.hpp>

#include <optional>
#include <string>
#include <vector>

#include "densemtl/core/fs.h"

namespace densemtl::data {

enum class Format { NYUD, PASCAL, MTAN };
std::string format_name(Format format);
// "nyud" | "pascal" | "mtan" (also "synthetic", read by the NYUD reader); throws on others.
Format parse_format(const std::string& text);

struct DatasetInfo {
  std::string name;                      // e.g. "NYUD-v2", "PASCAL-Context", "densemtl-scenes"
  Format format = Format::NYUD;
  fs::path root;
  std::vector<std::string> tasks;        // tasks that have labels on disk, canonical order
  std::vector<std::string> splits;       // split names found on disk
  std::vector<std::string> class_names;  // semantic classes (semseg channels)
  std::vector<std::string> part_names;   // human parts including background (human_parts channels)
  // Frame of the stored normals' y axis. The in-plane rotation of the augmentation depends on it.
  bool normals_y_down = true;
  // Boundary matching tolerance (fraction of the image diagonal) for edge evaluation.
  double edge_max_dist = 0.011;
  // The size the reference trains and tests at (H x W), when the dataset has one.
  std::optional<cv::Size> default_size;
  bool has_task(const std::string& task) const;
};

}  // namespace densemtl::data
