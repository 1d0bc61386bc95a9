#include "densemtl/train/optim.h"

#include <cmath>

#include "densemtl/core/error.h"
#include "densemtl/train/multi_tensor_optim.h"

namespace densemtl::train {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const config::Config& cfg, std::vector<torch::Tensor> params) {
  std::string name = cfg.get_string("optimizer.name");
  double lr = cfg.get_float("optimizer.lr"), wd = cfg.get_float("optimizer.weight_decay");
  if (name == "adam") return std::make_unique<MultiTensorAdam>(params, torch::optim::AdamOptions(lr).weight_decay(wd));
  if (name == "sgd") {
    double momentum = cfg.get_float("optimizer.momentum");
    bool nesterov = cfg.get_bool("optimizer.nesterov");
    if (nesterov && momentum <= 0) fail("{}: optimizer.nesterov needs optimizer.momentum > 0", cfg.source());
    return std::make_unique<MultiTensorSGD>(
        params, torch::optim::SGDOptions(lr).momentum(momentum).nesterov(nesterov).weight_decay(wd));
  }
  fail("{}: optimizer.name: unknown optimizer '{}'", cfg.source(), name);
}

double Schedule::rate(double t, double total) const {
  if (name == "constant" || total <= 0) return lr0;
  return lr0 * std::pow(std::max(0.0, 1.0 - t / total), power);
}

Schedule schedule_from_config(const config::Config& cfg) {
  Schedule s;
  s.name = cfg.get_string("scheduler.name");
  s.lr0 = cfg.get_float("optimizer.lr");
  s.power = cfg.get_float("scheduler.power");
  s.per_iteration = cfg.get_string("scheduler.per") == "iteration";
  return s;
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

double learning_rate(const torch::optim::Optimizer& optimizer) {
  return optimizer.param_groups().empty() ? 0.0 : optimizer.param_groups().front().options().get_lr();
}

}  // namespace densemtl::train
