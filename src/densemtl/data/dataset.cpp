#include "densemtl/data/dataset.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <map>
#include <sstream>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::data {

std::vector<std::string> Dataset::resolve_tasks(const std::vector<std::string>& tasks) const {
  if (tasks.empty()) return info_.tasks;
  for (const auto& t : tasks) {
    tasks::get(t);  // unknown names fail here
    if (std::find(info_.tasks.begin(), info_.tasks.end(), t) == info_.tasks.end())
      fail("{}: the dataset has no '{}' labels (it has: {})", info_.root.string(), t, join(info_.tasks, ", "));
  }
  return tasks;
}

Format detect_format(const fs::path& root) {
  require_dir(root, "dataset folder");
  if (fs::exists(root / "gt_sets")) return Format::NYUD;
  if (fs::exists(root / "ImageSets") || fs::exists(root / "JPEGImages")) return Format::PASCAL;
  if (fs::exists(root / "train" / "image") || fs::exists(root / "val" / "image")) return Format::MTAN;
  fail("{}: cannot tell the dataset format (no gt_sets/ as NYUD, no ImageSets/ or JPEGImages/ as "
       "PASCAL-Context, no train/image/ as mtan); pass --format", root.string());
}

void check_label(const std::string& task, const cv::Mat& label, cv::Size image_size) {
  if (label.size() != image_size)
    fail("label is {}x{} (H x W) but its image is {}x{}; labels must have their image's size", label.rows, label.cols,
         image_size.height, image_size.width);
  tasks::get(task).check_label(label);
}

}  // namespace densemtl::data
