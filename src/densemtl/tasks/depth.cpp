// Depth: metres per pixel, 0 = invalid.
#include <opencv2/imgproc.hpp>

#include "densemtl/core/error.h"
#include "densemtl/tasks/colour.h"
#include "densemtl/tasks/encode.h"
#include "densemtl/tasks/losses.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/tasks/task.h"

namespace densemtl::tasks {

namespace {

cv::Mat valid_depth(const cv::Mat& d) { return (d > 0) & (d != Task::kIgnore); }

// The mean depth over the valid training pixels, predicted everywhere.
class MeanDepth : public ConstantPredictor {
 public:
  void observe(const cv::Mat& label) override {
    sum_ += cv::sum(label)[0];
    count_ += cv::countNonZero(label > 0);
  }
  cv::Mat predict(cv::Size size) const override { return cv::Mat(size, CV_32F, cv::Scalar(count_ > 0 ? sum_ / count_ : 1.0)); }

 private:
  double sum_ = 0, count_ = 0;
};

class Depth : public Task {
 public:
  std::string name() const override { return "depth"; }
  std::string title() const override { return "Depth"; }
  LabelKind kind() const override { return LabelKind::Depth; }
  int output_channels(const data::DatasetInfo&) const override { return 1; }
  int train_interpolation() const override { return cv::INTER_NEAREST; }
  int infer_interpolation() const override { return cv::INTER_LINEAR; }
  // Zooming in by `scale` brings the scene closer by the same factor.
  void after_scale(cv::Mat& label, double scale) const override { label /= scale; }
  void mark_ignore(cv::Mat& label) const override { label.setTo(kIgnore, label == 0); }
  void check_label(const cv::Mat& label) const override {
    Task::check_label(label);
    if (const int n = cv::countNonZero(label < 0)) fail("{} negative depth value(s); depth is in metres, 0 = invalid", n);
  }
  cv::Mat draw(const cv::Mat& value, const data::DatasetInfo&, const cv::Mat* reference) const override {
    const cv::Mat& range_from = reference ? *reference : value;
    cv::Mat valid = valid_depth(range_from);
    double lo = 0, hi = 1;
    if (cv::countNonZero(valid)) cv::minMaxLoc(range_from, &lo, &hi, nullptr, nullptr, valid);
    return draw_scalar(value, lo, hi, valid_depth(value));
  }
  at::Tensor loss(const at::Tensor& out, const at::Tensor& label) const override {
    return masked_l1_loss(out, label);
  }
  cv::Mat encode_prediction(const at::Tensor& out, cv::Size original) const override {
    cv::Mat m = tensor_to_mat(out), r;
    cv::resize(m, r, original, 0, 0, cv::INTER_LINEAR);
    return r;
  }
  cv::Mat decode_prediction(const cv::Mat& stored) const override { return stored; }
  std::string prediction_extension() const override { return ".npy"; }
  std::unique_ptr<Metric> make_metric(const MetricContext&) const override { return make_depth_metric(); }
  std::unique_ptr<ConstantPredictor> constant_predictor() const override { return std::make_unique<MeanDepth>(); }
  std::string delta_metric() const override { return "rmse"; }
  bool lower_is_better() const override { return true; }
  std::optional<double> kpi(const OrderedJson& m) const override {
    if (!m.contains("delta1") || !m.at("delta1").is_number()) return std::nullopt;
    return m.at("delta1").get<double>() / 100.0;
  }
  std::vector<ReportColumn> report_columns() const override { return {{"rmse", "Depth RMSE m ↓", true, 4}}; }
};

}  // namespace

DENSEMTL_REGISTER(TaskEntry, {"depth", 60, [] { return std::make_unique<Depth>(); }});

}  // namespace densemtl::tasks
