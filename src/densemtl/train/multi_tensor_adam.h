// Adam computed exactly as torch::optim::Adam computes it (same options, same per-parameter state,
// so checkpoints are interchangeable and the results are the same), but with every update of a
// parameter group applied to all its tensors at once through ATen's multi-tensor (_foreach_)
// kernels. On a GPU that is a handful of kernel launches per group and step instead of about ten
// per parameter tensor (PyTorch's own Adam does the same on GPUs). AMSGrad uses the base class.
#pragma once

#include <torch/torch.h>

namespace densemtl::train {

class MultiTensorAdam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace densemtl::train
