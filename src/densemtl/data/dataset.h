// The sample structure every reader returns, and the reader interface.
#pragma once

#include <opencv2/core.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "densemtl/core/dataset_info.h"
#include "densemtl/core/fs.h"

namespace densemtl::data {

// One image and its labels in the task registry's conventions, at the image's own resolution:
//   image        CV_32FC3, RGB, 0..255
//   semseg       CV_32F class index, 255 = ignore
//   human_parts  CV_32F part index 0..6 (0 = background)
//   sal, edge    CV_32F in {0, 1}
//   normals      CV_32FC3 (x, y, z), the zero vector = invalid
//   depth        CV_32F metres, 0 = invalid
// A task the image has no label for is absent from `labels` (per-image missing labels).
struct Sample {
  std::string id;
  cv::Mat image;
  std::map<std::string, cv::Mat> labels;
  // Ground truth for evaluation where it differs from the training label: PASCAL-Context's
  // boundaries are scored against seg2bmap(LabelMap), trained on thin(|Laplacian(LabelMap)|).
  std::map<std::string, cv::Mat> eval_labels;
  cv::Size size() const { return image.size(); }
  bool has(const std::string& task) const { return labels.count(task) > 0; }
  // The evaluation ground truth of `task`, or nullptr when the image has none.
  const cv::Mat* ground_truth(const std::string& task) const {
    auto e = eval_labels.find(task);
    if (e != eval_labels.end()) return &e->second;
    auto l = labels.find(task);
    return l != labels.end() ? &l->second : nullptr;
  }
};

class Dataset {
 public:
  explicit Dataset(DatasetInfo info) : info_(std::move(info)) {}
  virtual ~Dataset() = default;
  const DatasetInfo& info() const { return info_; }

  // Sample ids of a split; a missing or empty split list is an error naming the file.
  virtual std::vector<std::string> ids(const std::string& split) const = 0;
  // Reads one sample with the labels of `tasks` (those of info().tasks when empty). Any problem
  // (missing file, corrupt image, wrong shape) is a densemtl::Error naming the file.
  virtual Sample load(const std::string& id, const std::vector<std::string>& tasks = {}) const = 0;
  // Whether sample `id` has a label for `task`, known without reading it (partially labelled
  // data: load() leaves such a task out of the sample's labels).
  virtual bool labelled(const std::string& /*id*/, const std::string& /*task*/) const { return true; }

 protected:
  // Tasks to load: `tasks`, or all the dataset has when empty. Unknown tasks are an error.
  std::vector<std::string> resolve_tasks(const std::vector<std::string>& tasks) const;
  DatasetInfo info_;
};

// Opens a dataset folder. Without `format` it is detected from the layout.
std::unique_ptr<Dataset> open_dataset(const fs::path& root, std::optional<Format> format = std::nullopt);
Format detect_format(const fs::path& root);

// Fails when task `task`'s label as read cannot be right: its size differs from its image's (no
// format densemtl reads stores labels at another resolution; the reference resized such labels
// silently), or it holds values the task cannot mean (Task::check_label). Readers call it inside
// with_context(file).
void check_label(const std::string& task, const cv::Mat& label, cv::Size image_size);
// Reads a split list (one id per line, blank lines ignored; an id listed twice is an error; an
// empty list is an error unless `allow_empty`).
std::vector<std::string> read_id_list(const fs::path& path, bool allow_empty = false);

}  // namespace densemtl::data
