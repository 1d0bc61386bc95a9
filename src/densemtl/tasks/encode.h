// Helpers for turning raw network outputs into stored predictions (shared by the task files).
#pragma once

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

namespace densemtl::tasks {

// Argmax over channels of [C, h, w], resized to `original` with nearest neighbour -> CV_8U.
cv::Mat encode_classes(const at::Tensor& output, cv::Size original);
// 255 * sigmoid of a one-channel output, resized (bilinear) and truncated to uint8.
cv::Mat encode_probability(const at::Tensor& output, cv::Size original);
// Truncates floats in [0, 255] to uint8 (the reference's astype(np.uint8)), saturating first.
cv::Mat truncate_to_u8(const cv::Mat& values);

}  // namespace densemtl::tasks
