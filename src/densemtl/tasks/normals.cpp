// Surface normals: a unit 3-vector per pixel; the zero vector marks invalid pixels.
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <limits>

#include "densemtl/tasks/colour.h"
#include "densemtl/tasks/task.h"

namespace densemtl::tasks {

namespace {

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
};

}  // namespace

std::unique_ptr<Task> make_task_normals() { return std::make_unique<Normals>(); }

}  // namespace densemtl::tasks
