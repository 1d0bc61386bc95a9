// Optimizers and learning-rate schedules (the survey's code's settings): Adam with coupled L2
// weight decay (as the
// reference's torch.optim.Adam, not AdamW) or SGD with momentum, both applied with multi-tensor
// kernels (multi_tensor_optim.h); poly decay
// lr = lr0 * (1 - t/T)^power, per epoch (the reference: set at the start of epoch t) or per
// iteration.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "densemtl/core/config.h"

namespace densemtl::train {

// One parameter group per learning-rate factor (ArchitectureImpl::parameters_by_lr_factor()); the
// first group's factor must be 1 (its rate is the one logged).
using LrGroups = std::vector<std::pair<double, std::vector<torch::Tensor>>>;
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const config::Config& cfg, const LrGroups& groups);

struct Schedule {
  std::string name = "poly";  // poly | step | constant
  double lr0 = 1e-4, power = 0.9;
  double step_epochs = 100, gamma = 0.5;  // step: lr0 * gamma^floor(epoch / step_epochs)
  bool per_iteration = false;
  // The rate at progress t of T (epochs, or iterations when per_iteration).
  double rate(double t, double total) const;
};
Schedule schedule_from_config(const config::Config& cfg);
// Sets group i's rate to lr x factors[i] (every group to lr when `factors` is empty).
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr, const std::vector<double>& factors = {});
double learning_rate(const torch::optim::Optimizer& optimizer);

}  // namespace densemtl::train
