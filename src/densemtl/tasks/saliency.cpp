// Saliency: a binary foreground mask, predicted as one logit per pixel.
#include <opencv2/imgproc.hpp>

#include "densemtl/tasks/colour.h"
#include "densemtl/tasks/task.h"

namespace densemtl::tasks {

namespace {

class Saliency : public Task {
 public:
  std::string name() const override { return "sal"; }
  std::string title() const override { return "Saliency"; }
  LabelKind kind() const override { return LabelKind::Binary; }
  int output_channels(const data::DatasetInfo&) const override { return 1; }
  int train_interpolation() const override { return cv::INTER_NEAREST; }
  int infer_interpolation() const override { return cv::INTER_LINEAR; }
  cv::Mat draw(const cv::Mat& value, const data::DatasetInfo&, const cv::Mat*) const override {
    return draw_gray(value);
  }
};

}  // namespace

std::unique_ptr<Task> make_task_sal() { return std::make_unique<Saliency>(); }

}  // namespace densemtl::tasks
