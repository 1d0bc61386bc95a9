// Inputs for the boundary-evaluation benchmark and its exactness tests: ground truth rendered from
// procedural scenes at NYUD's 480x640, and soft boundary predictions in two profiles.
//   mild:  a blurred, slightly displaced copy of the ground truth with missed stretches and a few
//          spurious strokes over a weak smooth background (the benchmark's original inputs);
//   noisy: as hard as a trained network's output on NYUD: true boundaries blurred (sigma 1.5-3),
//          displaced by a smooth warp of up to about 2.5 px, weakened along parts of their length and
//          missing in places; texture-correlated false positives (the image's own gradient
//          magnitude, so textured surfaces respond at low thresholds); a fine-grained noise floor and
//          a smooth background, so that at the lowest thresholds most of the image is foreground and
//          thins to a dense web. Deterministic for a given seed (no global RNG).
#pragma once

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstdint>
#include <string>

#include "densemtl/core/rng.h"
#include "densemtl/data/synthetic/generator.h"
#include "densemtl/vision/boundaries.h"

namespace densemtl::test {

struct BoundaryScene {
  cv::Mat gt;    // CV_8U boundary map (seg2bmap of the instances)
  cv::Mat grey;  // CV_32F grey image in [0, 1]
};

// Cluttered procedural scenes (12-30 objects) rendered at the given size.
inline BoundaryScene boundary_scene(int index, int height = 480, int width = 640) {
  synthetic::GenerateOptions g;
  g.height = height;
  g.width = width;
  g.seed = 1;
  g.scene.min_objects = 12;
  g.scene.max_objects = 30;
  synthetic::Rendering r = synthetic::render_sample(g, 0, index);
  BoundaryScene s;
  s.gt = vision::seg2bmap(r.instances);
  cv::Mat grey;
  cv::cvtColor(r.rgb, grey, cv::COLOR_RGB2GRAY);
  grey.convertTo(s.grey, CV_32F, 1.0 / 255.0);
  return s;
}

// A smooth random field in [lo, hi] of the given size (bicubic upsampling of a coarse grid).
inline cv::Mat smooth_field(cv::Size size, int cells_y, int cells_x, double lo, double hi, cv::RNG& rng) {
  cv::Mat coarse(cells_y, cells_x, CV_32F), out;
  rng.fill(coarse, cv::RNG::UNIFORM, lo, hi);
  cv::resize(coarse, out, size, 0, 0, cv::INTER_CUBIC);
  return out;
}

inline cv::Mat mild_prediction(const BoundaryScene& s, Rng& rng) {
  const cv::Mat& gt = s.gt;
  cv::RNG cv_rng(rng.next());
  cv::Mat p = gt.clone();
  for (int k = 0; k < 12; ++k) {
    cv::Point c(rng.randint(0, gt.cols - 1), rng.randint(0, gt.rows - 1));
    cv::circle(p, c, rng.randint(8, 30), cv::Scalar(0), -1);
  }
  for (int k = 0; k < 10; ++k) {
    cv::Point a(rng.randint(0, gt.cols - 1), rng.randint(0, gt.rows - 1));
    cv::Point b = a + cv::Point(rng.randint(-60, 60), rng.randint(-60, 60));
    cv::line(p, a, b, cv::Scalar(1), 1);
  }
  cv::Mat f;
  p.convertTo(f, CV_32F);
  cv::Mat m = (cv::Mat_<double>(2, 3) << 1, 0, rng.uniform(-1.5, 1.5), 0, 1, rng.uniform(-1.5, 1.5));
  cv::warpAffine(f, f, m, f.size(), cv::INTER_LINEAR);
  cv::GaussianBlur(f, f, {0, 0}, rng.uniform(1.0, 2.0));
  f = f * 2.5 + smooth_field(f.size(), 12, 16, 0.0, rng.uniform(0.05, 0.2), cv_rng);
  cv::Mat out;
  f.convertTo(out, CV_8U, 255.0);
  return out;
}

inline cv::Mat noisy_prediction(const BoundaryScene& s, Rng& rng) {
  const cv::Mat& gt = s.gt;
  const cv::Size size = gt.size();
  cv::RNG cv_rng(rng.next());
  // True boundaries with missing segments, displaced by a smooth warp, blurred, weakened in places.
  cv::Mat p;
  gt.convertTo(p, CV_32F, 1.0 / std::max(1.0, static_cast<double>(*std::max_element(gt.begin<std::uint8_t>(), gt.end<std::uint8_t>()))));
  for (int k = 0; k < 30; ++k) {
    cv::Point c(rng.randint(0, size.width - 1), rng.randint(0, size.height - 1));
    cv::circle(p, c, rng.randint(6, 28), cv::Scalar(0), -1);
  }
  cv::Mat dx = smooth_field(size, 6, 8, -2.5, 2.5, cv_rng), dy = smooth_field(size, 6, 8, -2.5, 2.5, cv_rng);
  cv::Mat map_x(size, CV_32F), map_y(size, CV_32F);
  for (int y = 0; y < size.height; ++y)
    for (int x = 0; x < size.width; ++x) {
      map_x.at<float>(y, x) = static_cast<float>(x) + dx.at<float>(y, x);
      map_y.at<float>(y, x) = static_cast<float>(y) + dy.at<float>(y, x);
    }
  cv::remap(p, p, map_x, map_y, cv::INTER_LINEAR, cv::BORDER_CONSTANT);
  const double sigma = rng.uniform(1.5, 3.0);
  cv::GaussianBlur(p, p, {0, 0}, sigma);
  p = p * (2.5 * sigma);  // a blurred 1-px line peaks near 1 / (2.5 sigma)
  cv::multiply(p, smooth_field(size, 8, 10, 0.2, 1.0, cv_rng), p);
  // Texture-correlated false positives: the blurred gradient magnitude of the image.
  cv::Mat gx, gy, mag;
  cv::Sobel(s.grey, gx, CV_32F, 1, 0, 3);
  cv::Sobel(s.grey, gy, CV_32F, 0, 1, 3);
  cv::magnitude(gx, gy, mag);
  cv::GaussianBlur(mag, mag, {0, 0}, 1.2);
  cv::multiply(mag, smooth_field(size, 6, 8, 0.3, 1.5, cv_rng), mag);
  // A fine-grained noise floor over a smooth background.
  cv::Mat noise(size, CV_32F);
  cv_rng.fill(noise, cv::RNG::NORMAL, 0.0, 1.0);
  cv::GaussianBlur(noise, noise, {0, 0}, 1.5);
  cv::Mat floor = cv::abs(noise) * 0.08 + smooth_field(size, 12, 16, 0.0, rng.uniform(0.05, 0.15), cv_rng);
  // Probabilistic OR of the three responses.
  cv::Mat a = cv::min(cv::max(p, 0.0), 1.0), b = cv::min(cv::max(mag, 0.0), 1.0), c = cv::min(cv::max(floor, 0.0), 1.0);
  cv::Mat q = 1.0 - (1.0 - a).mul(1.0 - b).mul(1.0 - c);
  cv::Mat out;
  q.convertTo(out, CV_8U, 255.0);
  return out;
}

inline cv::Mat boundary_prediction(const std::string& profile, const BoundaryScene& s, Rng& rng) {
  return profile == "noisy" ? noisy_prediction(s, rng) : mild_prediction(s, rng);
}

}  // namespace densemtl::test
