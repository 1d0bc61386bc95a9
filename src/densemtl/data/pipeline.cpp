#include "densemtl/data/pipeline.h"

#include <opencv2/imgproc.hpp>

#include "densemtl/tasks/registry.h"

namespace densemtl::data {

void hflip(Sample& s) {
  cv::flip(s.image, s.image, 1);
  for (auto& [task, label] : s.labels) {
    cv::flip(label, label, 1);
    tasks::get(task).on_flip(label);
  }
}

void scale_rotate(Sample& s, double degrees, double scale, bool normals_y_down) {
  const int w = s.image.cols, h = s.image.rows;
  cv::Mat m = cv::getRotationMatrix2D(cv::Point2f(w / 2.0f, h / 2.0f), degrees, scale);
  cv::warpAffine(s.image, s.image, m, s.image.size(), cv::INTER_CUBIC, cv::BORDER_CONSTANT, cv::Scalar::all(0));
  for (auto& [task, label] : s.labels) {
    const tasks::Task& t = tasks::get(task);
    if (degrees != 0.0) t.before_rotate(label, degrees, normals_y_down);
    cv::warpAffine(label, label, m, label.size(), t.train_interpolation(), cv::BORDER_CONSTANT, cv::Scalar::all(0));
    t.after_scale(label, scale);
  }
}

void resize_to(Sample& s, cv::Size size) {
  if (s.image.size() != size) cv::resize(s.image, s.image, size, 0, 0, cv::INTER_CUBIC);
  for (auto& [task, label] : s.labels) {
    const tasks::Task& t = tasks::get(task);
    if (label.size() != size) cv::resize(label, label, size, 0, 0, t.train_interpolation());
    t.after_resize(label);
  }
}

void add_ignore_regions(Sample& s) {
  for (auto& [task, label] : s.labels) tasks::get(task).mark_ignore(label);
}

cv::Mat normalize_image(const cv::Mat& rgb, const PipelineOptions& o) {
  cv::Mat out(rgb.size(), CV_32FC3);
  for (int y = 0; y < rgb.rows; ++y) {
    const auto* in = rgb.ptr<cv::Vec3f>(y);
    auto* dst = out.ptr<cv::Vec3f>(y);
    for (int x = 0; x < rgb.cols; ++x) {
      for (int c = 0; c < 3; ++c) {
        float v = std::min(255.0f, std::max(0.0f, in[x][c]));
        v = std::floor(v) / 255.0f;
        dst[x][c] = (v - o.mean[static_cast<std::size_t>(c)]) / o.std[static_cast<std::size_t>(c)];
      }
    }
  }
  return out;
}

Sample Pipeline::operator()(Sample s, Rng& rng) const {
  if (train_) {
    const AugmentOptions& a = o_.augment;
    if (a.flip && rng.uniform() < 0.5) hflip(s);
    double scale = 1.0, degrees = 0.0;
    if (!a.scales.empty()) scale = a.scales[rng.below(a.scales.size())];
    else if (a.scale_min != a.scale_max) scale = rng.uniform(a.scale_min, a.scale_max);
    else scale = a.scale_min;
    if (a.rotation != 0.0) degrees = rng.uniform(-a.rotation, a.rotation);
    if (scale != 1.0 || degrees != 0.0) scale_rotate(s, degrees, scale, o_.normals_y_down);
  }
  resize_to(s, o_.size);
  add_ignore_regions(s);
  s.image = normalize_image(s.image, o_);
  return s;
}

}  // namespace densemtl::data
