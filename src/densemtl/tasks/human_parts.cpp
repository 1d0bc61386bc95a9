// Human part segmentation: background 0 and six parts (head, torso, upper arm, lower arm, upper
// leg, lower leg). An image whose map is all background has no part supervision at all (the
// reference's AddIgnoreRegions turns it into all-ignore).
#include <opencv2/imgproc.hpp>

#include "densemtl/tasks/colour.h"
#include "densemtl/tasks/encode.h"
#include "densemtl/tasks/losses.h"
#include "densemtl/tasks/task.h"

namespace densemtl::tasks {

namespace {

class HumanParts : public Task {
 public:
  std::string name() const override { return "human_parts"; }
  std::string title() const override { return "Human parts"; }
  LabelKind kind() const override { return LabelKind::Classes; }
  int output_channels(const data::DatasetInfo& d) const override { return static_cast<int>(d.part_names.size()); }
  int train_interpolation() const override { return cv::INTER_NEAREST; }
  int infer_interpolation() const override { return cv::INTER_NEAREST; }
  void mark_ignore(cv::Mat& label) const override {
    if (cv::countNonZero(label) == 0) label.setTo(kIgnore);
  }
  cv::Mat draw(const cv::Mat& value, const data::DatasetInfo&, const cv::Mat*) const override {
    return draw_classes(value);
  }
  at::Tensor loss(const at::Tensor& out, const at::Tensor& label, const LossOptions&) const override {
    return softmax_ce_loss(out, label);
  }
  cv::Mat encode_prediction(const at::Tensor& out, cv::Size original) const override { return encode_classes(out, original); }
  cv::Mat decode_prediction(const cv::Mat& stored) const override {
    cv::Mat f;
    stored.convertTo(f, CV_32F);
    return f;
  }
  // Images whose ground truth is all background (no person) or all ignore are skipped.
  std::unique_ptr<eval::Metric> make_metric(const eval::MetricOptions& o) const override {
    eval::MetricOptions parts = o;
    parts.skip_empty_images = true;
    return eval::make_miou_metric(parts);
  }
  std::string delta_metric() const override { return "mIoU"; }
};

}  // namespace

std::unique_ptr<Task> make_task_human_parts() { return std::make_unique<HumanParts>(); }

}  // namespace densemtl::tasks
