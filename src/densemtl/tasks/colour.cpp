#include "densemtl/tasks/colour.h"

#include <opencv2/imgproc.hpp>

namespace densemtl::tasks {

std::array<std::uint8_t, 3> palette_colour(int index) {
  std::array<std::uint8_t, 3> c{0, 0, 0};
  int cid = index;
  for (int j = 0; j < 8; ++j) {
    for (int ch = 0; ch < 3; ++ch) c[static_cast<std::size_t>(ch)] |= static_cast<std::uint8_t>(((cid >> ch) & 1) << (7 - j));
    cid >>= 3;
  }
  return c;
}

cv::Mat draw_classes(const cv::Mat& classes) {
  cv::Mat cls;
  classes.convertTo(cls, CV_32S);
  cv::Mat out(cls.size(), CV_8UC3);
  for (int y = 0; y < cls.rows; ++y) {
    const int* in = cls.ptr<int>(y);
    auto* o = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < cls.cols; ++x) {
      if (in[x] == 255) {
        o[x] = cv::Vec3b(255, 255, 255);
      } else {
        auto c = palette_colour(in[x]);
        o[x] = cv::Vec3b(c[0], c[1], c[2]);
      }
    }
  }
  return out;
}

cv::Mat draw_scalar(const cv::Mat& values, double lo, double hi, const cv::Mat& valid) {
  cv::Mat v;
  values.convertTo(v, CV_32F);
  double span = hi > lo ? hi - lo : 1.0;
  cv::Mat u8;
  v.convertTo(u8, CV_8U, 255.0 / span, -lo * 255.0 / span);
  cv::Mat bgr, rgb;
  cv::applyColorMap(u8, bgr, cv::COLORMAP_TURBO);
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  if (!valid.empty()) rgb.setTo(cv::Scalar(0, 0, 0), valid == 0);
  return rgb;
}

cv::Mat draw_normals(const cv::Mat& normals) {
  cv::Mat out(normals.size(), CV_8UC3);
  for (int y = 0; y < normals.rows; ++y) {
    const auto* in = normals.ptr<cv::Vec3f>(y);
    auto* o = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < normals.cols; ++x) {
      cv::Vec3f n = in[x];
      float len = std::sqrt(n.dot(n));
      if (len == 0.0f || len > 100.0f) {
        o[x] = cv::Vec3b(0, 0, 0);
        continue;
      }
      n /= len;
      for (int c = 0; c < 3; ++c) o[x][c] = cv::saturate_cast<std::uint8_t>((n[c] + 1.0f) * 127.5f);
    }
  }
  return out;
}

cv::Mat draw_gray(const cv::Mat& values01) {
  cv::Mat u8, rgb;
  values01.convertTo(u8, CV_8U, 255.0);
  cv::cvtColor(u8, rgb, cv::COLOR_GRAY2RGB);
  return rgb;
}

}  // namespace densemtl::tasks
