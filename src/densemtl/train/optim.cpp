#include "densemtl/train/optim.h"

#include <cmath>

#include "densemtl/core/error.h"
#include "densemtl/train/multi_tensor_optim.h"

namespace densemtl::train {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const config::Config& cfg, const LrGroups& groups) {
  if (groups.empty() || groups.front().first != 1.0) fail("internal: the first parameter group's learning-rate factor must be 1");
  std::string name = cfg.get_string("optimizer.name");
  double lr = cfg.get_float("optimizer.lr"), wd = cfg.get_float("optimizer.weight_decay");
  auto param_groups = [&](const auto& options) {
    std::vector<torch::optim::OptimizerParamGroup> out;
    for (const auto& [factor, params] : groups) {
      auto o = std::make_unique<std::decay_t<decltype(options)>>(options);
      o->lr(lr * factor);
      out.emplace_back(params, std::move(o));
    }
    return out;
  };
  if (name == "adam") {
    torch::optim::AdamOptions o(lr);
    o.weight_decay(wd);
    return std::make_unique<MultiTensorAdam>(param_groups(o), o);
  }
  if (name == "sgd") {
    double momentum = cfg.get_float("optimizer.momentum");
    bool nesterov = cfg.get_bool("optimizer.nesterov");
    if (nesterov && momentum <= 0) fail("{}: optimizer.nesterov needs optimizer.momentum > 0", cfg.source());
    torch::optim::SGDOptions o(lr);
    o.momentum(momentum).nesterov(nesterov).weight_decay(wd);
    return std::make_unique<MultiTensorSGD>(param_groups(o), o);
  }
  fail("{}: optimizer.name: unknown optimizer '{}'", cfg.source(), name);
}

double Schedule::rate(double t, double total) const {
  if (name == "constant" || total <= 0) return lr0;
  if (name == "step") return lr0 * std::pow(gamma, std::floor(t / step_epochs));
  return lr0 * std::pow(std::max(0.0, 1.0 - t / total), power);
}

Schedule schedule_from_config(const config::Config& cfg) {
  Schedule s;
  s.name = cfg.get_string("scheduler.name");
  s.lr0 = cfg.get_float("optimizer.lr");
  s.power = cfg.get_float("scheduler.power");
  s.per_iteration = cfg.get_string("scheduler.per") == "iteration";
  s.step_epochs = static_cast<double>(cfg.get_int("scheduler.step_epochs"));
  s.gamma = cfg.get_float("scheduler.gamma");
  return s;
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr, const std::vector<double>& factors) {
  auto& groups = optimizer.param_groups();
  if (!factors.empty() && factors.size() != groups.size())
    fail("internal: {} learning-rate factors for {} parameter groups", factors.size(), groups.size());
  for (std::size_t i = 0; i < groups.size(); ++i) groups[i].options().set_lr(factors.empty() ? lr : lr * factors[i]);
}

double learning_rate(const torch::optim::Optimizer& optimizer) {
  return optimizer.param_groups().empty() ? 0.0 : optimizer.param_groups().front().options().get_lr();
}

}  // namespace densemtl::train
