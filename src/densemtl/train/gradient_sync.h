// Multi-process data parallelism: after a step's backward pass every process holds the gradient
// of its share of the global batch's loss (tasks/losses.h, GlobalBatch); their sum is the
// gradient one process would compute on the whole batch. GradientSync sums the model's gradients
// over the processes in buckets (about bucket_bytes each, in reverse registration order, the
// order a backward pass finishes them), and the buckets start their sums, in index order, while
// the backward pass goes on, as soon as autograd has accumulated the gradients of all their
// parameters (hooks after each parameter's gradient accumulation, as PyTorch's DDP Reducer).
// Gradients written another way (the balancers' gradient modes, heads in representation mode) are
// summed in reduce(), with what no hook saw. Every process must produce gradients for the same
// parameters in a step (the architectures' graphs do not depend on the data).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <set>
#include <vector>

#include "densemtl/core/collective.h"

namespace densemtl::train {

class GradientSync {
 public:
  // overlap = false: every bucket starts in reduce(), after the backward pass (for measurements).
  GradientSync(Collective& group, std::vector<torch::Tensor> parameters, std::int64_t bucket_bytes = 25 << 20, bool overlap = true);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // Before a step's backward pass: buckets start as their gradients become ready.
  void arm();
  // Sums every parameter's gradient over the processes (those in `skip` excepted: already
  // global), waiting for the buckets in flight and starting the others. A parameter without a
  // gradient here counts as zero and keeps no gradient.
  void reduce(const std::set<const void*>& skip = {});
  // Seconds spent waiting for sums in reduce() since the last call (the part not overlapped).
  double take_wait_seconds();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace densemtl::train
