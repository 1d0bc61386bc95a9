// Surface normals: a unit 3-vector per pixel; the zero vector marks invalid pixels.
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <limits>

#include "densemtl/tasks/colour.h"
#include "densemtl/tasks/encode.h"
#include "densemtl/tasks/losses.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/tasks/task.h"

#include <torch/torch.h>

namespace densemtl::tasks {

namespace {

// The mean direction of the training normals, predicted everywhere.
class MeanNormal : public ConstantPredictor {
 public:
  void observe(const cv::Mat& label) override {
    cv::Scalar sum = cv::sum(label);
    sum_ += cv::Vec3d(sum[0], sum[1], sum[2]);
  }
  cv::Mat predict(cv::Size size) const override {
    cv::Vec3d m = sum_ / std::max(1e-12, cv::norm(sum_));
    cv::Mat v(size, CV_32FC3, cv::Scalar((m[0] + 1) * 127.5, (m[1] + 1) * 127.5, (m[2] + 1) * 127.5));
    return truncate_to_u8(v);
  }

 private:
  cv::Vec3d sum_{0, 0, 0};
};

class Normals : public Task {
 public:
  std::string name() const override { return "normals"; }
  std::string title() const override { return "Surface normals"; }
  LabelKind kind() const override { return LabelKind::Normals; }
  int label_channels() const override { return 3; }
  int output_channels(const data::DatasetInfo&) const override { return 3; }
  int train_interpolation() const override { return cv::INTER_CUBIC; }
  int infer_interpolation() const override { return cv::INTER_LINEAR; }

  void on_flip(cv::Mat& label) const override {
    for (int y = 0; y < label.rows; ++y) {
      auto* p = label.ptr<cv::Vec3f>(y);
      for (int x = 0; x < label.cols; ++x) p[x][0] = -p[x][0];
    }
  }

  // The image content turns counter-clockwise on screen by `degrees`; the in-plane part of every
  // normal turns with it. With y pointing down (image convention) this is the reference's
  // formula (theta = atan2(nx, ny); n' = r (sin(theta + a), cos(theta + a))); with y pointing up
  // the same on-screen turn is the opposite angle in (x, y).
  void before_rotate(cv::Mat& label, double degrees, bool normals_y_down) const override {
    double a = degrees * M_PI / 180.0;
    if (!normals_y_down) a = -a;
    const double c = std::cos(a), s = std::sin(a);
    for (int y = 0; y < label.rows; ++y) {
      auto* p = label.ptr<cv::Vec3f>(y);
      for (int x = 0; x < label.cols; ++x) {
        double nx = p[x][0], ny = p[x][1];
        p[x][0] = static_cast<float>(nx * c + ny * s);
        p[x][1] = static_cast<float>(ny * c - nx * s);
      }
    }
  }

  // Renormalise after interpolation, as the reference does (n / (|n| + float eps)). Deliberate
  // difference: where cubic interpolation blended valid normals with invalid (zero) ones or with
  // warp padding so much that less than a tenth of the length is left, the direction is noise;
  // such pixels become invalid instead of being blown up to unit length.
  void after_resize(cv::Mat& label) const override {
    const float eps = std::numeric_limits<float>::epsilon();
    for (int y = 0; y < label.rows; ++y) {
      auto* p = label.ptr<cv::Vec3f>(y);
      for (int x = 0; x < label.cols; ++x) {
        float n = std::sqrt(p[x].dot(p[x]));
        p[x] = n < 0.1f ? cv::Vec3f(0, 0, 0) : p[x] / (n + eps);
      }
    }
  }

  void mark_ignore(cv::Mat& label) const override {
    for (int y = 0; y < label.rows; ++y) {
      auto* p = label.ptr<cv::Vec3f>(y);
      for (int x = 0; x < label.cols; ++x)
        if (p[x][0] == 0.0f && p[x][1] == 0.0f && p[x][2] == 0.0f) p[x] = cv::Vec3f(kIgnore, kIgnore, kIgnore);
    }
  }

  cv::Mat draw(const cv::Mat& value, const data::DatasetInfo&, const cv::Mat*) const override {
    return draw_normals(value);
  }
  at::Tensor loss(const at::Tensor& out, const at::Tensor& label) const override {
    return normals_l1_loss(out, label);
  }
  // (normalize(n) + 1) * 255 / 2, resized bilinearly, truncated to uint8, RGB = (x, y, z).
  cv::Mat encode_prediction(const at::Tensor& out, cv::Size original) const override {
    at::Tensor n = out.detach().to(torch::kFloat32);
    n = n / n.norm(2, 0, true).clamp_min(1e-12);
    cv::Mat m = tensor_to_mat((n + 1.0) * (255.0 / 2.0)), r;
    cv::resize(m, r, original, 0, 0, cv::INTER_LINEAR);
    return truncate_to_u8(r);
  }
  cv::Mat decode_prediction(const cv::Mat& stored) const override {
    cv::Mat f(stored.size(), CV_32FC3);
    for (int y = 0; y < stored.rows; ++y)
      for (int x = 0; x < stored.cols; ++x) {
        cv::Vec3b v = stored.at<cv::Vec3b>(y, x);
        cv::Vec3f n(2.0f * v[0] / 255 - 1, 2.0f * v[1] / 255 - 1, 2.0f * v[2] / 255 - 1);
        float len = std::sqrt(n.dot(n));
        f.at<cv::Vec3f>(y, x) = len > 0 ? n / len : n;
      }
    return f;
  }
  std::unique_ptr<Metric> make_metric(const MetricContext&) const override { return make_normals_metric(); }
  std::unique_ptr<ConstantPredictor> constant_predictor() const override { return std::make_unique<MeanNormal>(); }
  std::string delta_metric() const override { return "mean"; }
  bool lower_is_better() const override { return true; }
  std::optional<double> kpi(const OrderedJson& m) const override {
    if (!m.contains("11.25") || !m.at("11.25").is_number()) return std::nullopt;
    return m.at("11.25").get<double>() / 100.0;
  }
  std::vector<ReportColumn> report_columns() const override { return {{"mean", "Normals mean° ↓", true, 2}}; }
};

}  // namespace

DENSEMTL_REGISTER(TaskEntry, {"normals", 40, [] { return std::make_unique<Normals>(); }});

}  // namespace densemtl::tasks
