// Colouring helpers for task pictures. All return RGB CV_8UC3.
#pragma once

#include <opencv2/core.hpp>

#include <array>
#include <cstdint>

namespace densemtl::tasks {

// The PASCAL VOC palette (bit-interleaved), colour of class `index`.
std::array<std::uint8_t, 3> palette_colour(int index);
// Class-index map (CV_32F or integer) to colours; 255 (ignore) is drawn white.
cv::Mat draw_classes(const cv::Mat& classes);
// Values in [lo, hi] through the turbo colour map; `valid` (CV_8U, may be empty) masks pixels
// drawn black.
cv::Mat draw_scalar(const cv::Mat& values, double lo, double hi, const cv::Mat& valid = cv::Mat());
// Unit normals (CV_32FC3) as RGB (n + 1) / 2 * 255; zero vectors black.
cv::Mat draw_normals(const cv::Mat& normals);
// A [0, 1] map as grey levels.
cv::Mat draw_gray(const cv::Mat& values01);

}  // namespace densemtl::tasks
