// Semantic segmentation: one class index per pixel, 255 = ignore.
#include <opencv2/imgproc.hpp>

#include "densemtl/tasks/colour.h"
#include "densemtl/tasks/encode.h"
#include "densemtl/tasks/losses.h"
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
  at::Tensor loss(const at::Tensor& out, const at::Tensor& label, const LossOptions&) const override {
    return softmax_ce_loss(out, label);
  }
  cv::Mat encode_prediction(const at::Tensor& out, cv::Size original) const override { return encode_classes(out, original); }
  cv::Mat decode_prediction(const cv::Mat& stored) const override {
    cv::Mat f;
    stored.convertTo(f, CV_32F);
    return f;
  }
  std::unique_ptr<eval::Metric> make_metric(const eval::MetricOptions& o) const override { return eval::make_miou_metric(o); }
  std::string delta_metric() const override { return "mIoU"; }
};

}  // namespace

std::unique_ptr<Task> make_task_semseg() { return std::make_unique<Semseg>(); }

}  // namespace densemtl::tasks
