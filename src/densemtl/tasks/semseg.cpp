// Semantic segmentation: one class index per pixel, 255 = ignore.
#include <opencv2/imgproc.hpp>

#include "densemtl/tasks/colour.h"
#include "densemtl/tasks/task.h"

namespace densemtl::tasks {

namespace {

class Semseg : public Task {
 public:
  std::string name() const override { return "semseg"; }
  std::string title() const override { return "Semantic segmentation"; }
  LabelKind kind() const override { return LabelKind::Classes; }
  int output_channels(const data::DatasetInfo& d) const override { return static_cast<int>(d.class_names.size()); }
  int train_interpolation() const override { return cv::INTER_NEAREST; }
  int infer_interpolation() const override { return cv::INTER_NEAREST; }
  cv::Mat draw(const cv::Mat& value, const data::DatasetInfo&, const cv::Mat*) const override {
    return draw_classes(value);
  }
};

}  // namespace

std::unique_ptr<Task> make_task_semseg() { return std::make_unique<Semseg>(); }

}  // namespace densemtl::tasks
