#include "densemtl/tasks/losses.h"

#include <torch/torch.h>

#include "densemtl/core/collective.h"
#include "densemtl/tasks/task.h"

namespace densemtl::tasks {

// No loss reads a value back to the host: element counts stay tensors on the loss's device (a
// read-back would make the CPU wait for the GPU mid-step). An all-ignored batch gives a zero
// that is still part of the graph, since the sums are then empty and the counts clamped to 1.
namespace {
thread_local bool g_global_batch = false;

// A batch-wide total: this process's, or (under GlobalBatch) every process's.
at::Tensor total(const at::Tensor& x) {
  if (!g_global_batch || !world() || world()->size() == 1) return x;
  at::Tensor t = x.detach().contiguous().clone();
  world()->all_reduce_sum(t);
  return t;
}
at::Tensor count_of(const at::Tensor& valid) { return total(valid.sum()).clamp_min(1.0); }
}  // namespace

GlobalBatch::GlobalBatch() : previous_(g_global_batch) { g_global_batch = true; }
GlobalBatch::~GlobalBatch() { g_global_batch = previous_; }

at::Tensor softmax_ce_loss(const at::Tensor& logits, const at::Tensor& label) {
  at::Tensor target = label.select(1, 0).to(torch::kLong);
  at::Tensor valid = (target != static_cast<std::int64_t>(Task::kIgnore)).to(logits.dtype());
  return torch::nll_loss2d(torch::log_softmax(logits, 1), target, {}, at::Reduction::Sum,
                           static_cast<std::int64_t>(Task::kIgnore)) /
         count_of(valid);
}

at::Tensor balanced_bce_loss(const at::Tensor& logits, const at::Tensor& label, std::optional<double> pos_weight) {
  at::Tensor valid = (label != Task::kIgnore).to(logits.dtype());
  at::Tensor n_valid = count_of(valid);
  at::Tensor y = (label >= 0.5).to(logits.dtype()) * valid;
  // Numerically stable BCE with logits: l = max(x, 0) - x y + log(1 + exp(-|x|)).
  at::Tensor l = torch::clamp_min(logits, 0) - logits * y + torch::log1p(torch::exp(-logits.abs()));
  // The weight of positives: given, or the batch's share of negatives among valid pixels.
  at::Tensor weights;
  if (pos_weight) {
    weights = y * *pos_weight + (valid - y) * (1.0 - *pos_weight);
  } else {
    at::Tensor w = (total(valid.sum()) - total(y.sum())) / n_valid;
    weights = y * w + (valid - y) * (1.0 - w);
  }
  return (l * weights).sum() / n_valid;
}

at::Tensor normals_l1_loss(const at::Tensor& output, const at::Tensor& label) {
  at::Tensor n = output / (output.norm(2, 1, true) + 1e-12);
  at::Tensor valid = (label != Task::kIgnore).to(output.dtype());
  return ((n - label).abs() * valid).sum() / count_of(valid);
}

at::Tensor masked_l1_loss(const at::Tensor& output, const at::Tensor& label) {
  at::Tensor valid = (label != Task::kIgnore).to(output.dtype());
  return ((output - label).abs() * valid).sum() / count_of(valid);
}

cv::Mat tensor_to_mat(const at::Tensor& chw) {
  at::Tensor t = chw.detach().to(torch::kCPU, torch::kFloat32).permute({1, 2, 0}).contiguous();
  const int h = static_cast<int>(t.size(0)), w = static_cast<int>(t.size(1)), c = static_cast<int>(t.size(2));
  return cv::Mat(h, w, CV_32FC(c), t.data_ptr<float>()).clone();
}

}  // namespace densemtl::tasks
