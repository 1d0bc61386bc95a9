#include "densemtl/tasks/encode.h"

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "densemtl/tasks/losses.h"

namespace densemtl::tasks {

cv::Mat encode_classes(const at::Tensor& output, cv::Size original) {
  at::Tensor idx = output.detach().argmax(0).to(torch::kCPU, torch::kUInt8).contiguous();
  cv::Mat m(static_cast<int>(idx.size(0)), static_cast<int>(idx.size(1)), CV_8U, idx.data_ptr<std::uint8_t>());
  cv::Mat out;
  cv::resize(m, out, original, 0, 0, cv::INTER_NEAREST);
  return out;
}

cv::Mat truncate_to_u8(const cv::Mat& values) {
  cv::Mat out(values.size(), CV_MAKETYPE(CV_8U, values.channels()));
  const int n = values.cols * values.channels();
  for (int y = 0; y < values.rows; ++y) {
    const float* in = values.ptr<float>(y);
    auto* o = out.ptr<std::uint8_t>(y);
    for (int x = 0; x < n; ++x) o[x] = static_cast<std::uint8_t>(std::min(255.0f, std::max(0.0f, in[x])));
  }
  return out;
}

cv::Mat encode_probability(const at::Tensor& output, cv::Size original) {
  cv::Mat p = tensor_to_mat(torch::sigmoid(output.detach().to(torch::kFloat32)) * 255.0);
  cv::Mat r;
  cv::resize(p, r, original, 0, 0, cv::INTER_LINEAR);
  return truncate_to_u8(r);
}

}  // namespace densemtl::tasks
