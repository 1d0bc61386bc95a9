// Boundary detection: a binary boundary map, predicted as one logit per pixel.
#include <opencv2/imgproc.hpp>

#include "densemtl/tasks/colour.h"
#include "densemtl/tasks/encode.h"
#include "densemtl/tasks/losses.h"
#include "densemtl/tasks/task.h"

namespace densemtl::tasks {

namespace {

class Edge : public Task {
 public:
  std::string name() const override { return "edge"; }
  std::string title() const override { return "Boundaries"; }
  LabelKind kind() const override { return LabelKind::Binary; }
  int output_channels(const data::DatasetInfo&) const override { return 1; }
  int train_interpolation() const override { return cv::INTER_NEAREST; }
  int infer_interpolation() const override { return cv::INTER_LINEAR; }
  cv::Mat draw(const cv::Mat& value, const data::DatasetInfo&, const cv::Mat*) const override {
    return draw_gray(value);
  }
  // Balanced BCE with a fixed positive weight (tasks.edge_pos_weight, 0.95 by default).
  at::Tensor loss(const at::Tensor& out, const at::Tensor& label, const LossOptions& o) const override {
    return balanced_bce_loss(out, label, o.edge_pos_weight);
  }
  cv::Mat encode_prediction(const at::Tensor& out, cv::Size original) const override { return encode_probability(out, original); }
  cv::Mat decode_prediction(const cv::Mat& stored) const override {
    cv::Mat f;
    stored.convertTo(f, CV_32F, 1.0 / 255);
    return f;
  }
  std::unique_ptr<eval::Metric> make_metric(const eval::MetricOptions& o) const override { return eval::make_boundary_metric(o); }
  std::string delta_metric() const override { return "odsF"; }
};

}  // namespace

std::unique_ptr<Task> make_task_edge() { return std::make_unique<Edge>(); }

}  // namespace densemtl::tasks
