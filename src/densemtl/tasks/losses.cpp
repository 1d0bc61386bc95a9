#include "densemtl/tasks/losses.h"

#include <torch/torch.h>

#include "densemtl/tasks/task.h"

namespace densemtl::tasks {

namespace {
// A zero that keeps the graph connected (so backward() works on an all-ignored batch).
at::Tensor zero_like_graph(const at::Tensor& t) { return t.sum() * 0.0; }
}  // namespace

at::Tensor softmax_ce_loss(const at::Tensor& logits, const at::Tensor& label) {
  at::Tensor target = label.select(1, 0).to(torch::kLong);
  at::Tensor valid = target != static_cast<std::int64_t>(Task::kIgnore);
  if (!valid.any().item<bool>()) return zero_like_graph(logits);
  return torch::nll_loss2d(torch::log_softmax(logits, 1), target, {}, at::Reduction::Mean,
                           static_cast<std::int64_t>(Task::kIgnore));
}

at::Tensor balanced_bce_loss(const at::Tensor& logits, const at::Tensor& label, std::optional<double> pos_weight) {
  at::Tensor valid = (label != Task::kIgnore).to(logits.dtype());
  double n_valid = valid.sum().item<double>();
  if (n_valid == 0) return zero_like_graph(logits);
  at::Tensor y = (label >= 0.5).to(logits.dtype()) * valid;
  double w;
  if (pos_weight) {
    w = *pos_weight;
  } else {
    double positives = y.sum().item<double>();
    w = (n_valid - positives) / n_valid;
  }
  // Numerically stable BCE with logits: l = max(x, 0) - x y + log(1 + exp(-|x|)).
  at::Tensor l = torch::clamp_min(logits, 0) - logits * y + torch::log1p(torch::exp(-logits.abs()));
  at::Tensor weights = (y * w + (valid - y) * (1.0 - w));
  return (l * weights).sum() / n_valid;
}

at::Tensor normals_l1_loss(const at::Tensor& output, const at::Tensor& label) {
  at::Tensor n = output / (output.norm(2, 1, true) + 1e-12);
  at::Tensor valid = (label != Task::kIgnore).to(output.dtype());
  double count = valid.sum().item<double>();
  if (count == 0) return zero_like_graph(output);
  return ((n - label).abs() * valid).sum() / count;
}

at::Tensor masked_l1_loss(const at::Tensor& output, const at::Tensor& label) {
  at::Tensor valid = (label != Task::kIgnore).to(output.dtype());
  double count = valid.sum().item<double>();
  if (count == 0) return zero_like_graph(output);
  return ((output - label).abs() * valid).sum() / count;
}

cv::Mat tensor_to_mat(const at::Tensor& chw) {
  at::Tensor t = chw.detach().to(torch::kCPU, torch::kFloat32).permute({1, 2, 0}).contiguous();
  const int h = static_cast<int>(t.size(0)), w = static_cast<int>(t.size(1)), c = static_cast<int>(t.size(2));
  return cv::Mat(h, w, CV_32FC(c), t.data_ptr<float>()).clone();
}

}  // namespace densemtl::tasks
