#include "densemtl/train/multi_tensor_optim.h"

#include <cmath>
#include <string>
#include <type_traits>

namespace densemtl::train {

namespace {

// The optimizer state is keyed by the parameter's TensorImpl: as a string in LibTorch 1.x, as the
// pointer itself in 2.x.
template <typename Map>
typename Map::key_type state_key(const torch::Tensor& p) {
  if constexpr (std::is_same_v<typename Map::key_type, std::string>)
    return c10::guts::to_string(p.unsafeGetTensorImpl());
  else
    return p.unsafeGetTensorImpl();
}

// Whether every parameter is on a GPU (the multi-tensor kernels' home).
bool all_on_gpu(const std::vector<torch::optim::OptimizerParamGroup>& groups) {
  bool any = false;
  for (const auto& group : groups)
    for (const auto& p : group.params()) {
      if (!p.is_cuda()) return false;
      any = true;
    }
  return any;
}

// The loss of the optional closure, evaluated with gradients on (as LibTorch's optimisers do).
torch::Tensor closure_loss(const torch::optim::Optimizer::LossClosure& closure) {
  if (closure == nullptr) return {};
  at::AutoGradMode enable_grad(true);
  return closure();
}

}  // namespace

torch::Tensor MultiTensorAdam::step(LossClosure closure) {
  if (!force_ && !all_on_gpu(param_groups_)) return torch::optim::Adam::step(closure);
  for (const auto& group : param_groups_)
    if (static_cast<const torch::optim::AdamOptions&>(group.options()).amsgrad()) return torch::optim::Adam::step(closure);
  torch::NoGradGuard no_grad;
  torch::Tensor loss = closure_loss(closure);
  for (auto& group : param_groups_) {
    auto& options = static_cast<torch::optim::AdamOptions&>(group.options());
    const double beta1 = std::get<0>(options.betas()), beta2 = std::get<1>(options.betas());
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs;
    std::vector<c10::Scalar> bias2_roots, step_sizes;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      TORCH_CHECK(!p.grad().is_sparse(), "Adam does not support sparse gradients");
      auto key = state_key<decltype(state_)>(p);
      auto found = state_.find(key);
      if (found == state_.end()) {
        auto state = std::make_unique<torch::optim::AdamParamState>();
        state->step(0);
        state->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        state->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        found = state_.emplace(key, std::move(state)).first;
      }
      auto& state = static_cast<torch::optim::AdamParamState&>(*found->second);
      state.step(state.step() + 1);
      const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(state.step()));
      const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(state.step()));
      params.push_back(p);
      grads.push_back(p.grad());
      exp_avgs.push_back(state.exp_avg());
      exp_avg_sqs.push_back(state.exp_avg_sq());
      bias2_roots.emplace_back(std::sqrt(bias_correction2));
      step_sizes.emplace_back(-options.lr() / bias_correction1);
    }
    if (params.empty()) continue;
    // The same operations, in the same order, as torch::optim::Adam::step on each tensor.
    if (options.weight_decay() != 0) grads = at::_foreach_add(grads, params, options.weight_decay());
    at::_foreach_mul_(exp_avgs, beta1);
    at::_foreach_add_(exp_avgs, grads, 1 - beta1);
    at::_foreach_mul_(exp_avg_sqs, beta2);
    at::_foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2);
    std::vector<torch::Tensor> denom = at::_foreach_sqrt(exp_avg_sqs);
    at::_foreach_div_(denom, bias2_roots);
    at::_foreach_add_(denom, options.eps());
    at::_foreach_addcdiv_(params, exp_avgs, denom, step_sizes);
  }
  return loss;
}

torch::Tensor MultiTensorSGD::step(LossClosure closure) {
  if (!force_ && !all_on_gpu(param_groups_)) return torch::optim::SGD::step(closure);
  torch::NoGradGuard no_grad;
  torch::Tensor loss = closure_loss(closure);
  for (auto& group : param_groups_) {
    auto& options = static_cast<torch::optim::SGDOptions&>(group.options());
    const double momentum = options.momentum(), dampening = options.dampening();
    std::vector<torch::Tensor> params, grads;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      params.push_back(p);
      grads.push_back(p.grad());
    }
    if (params.empty()) continue;
    // The same operations, in the same order, as torch::optim::SGD::step on each tensor.
    if (options.weight_decay() != 0) grads = at::_foreach_add(grads, params, options.weight_decay());
    if (momentum != 0) {
      // A new momentum buffer starts as a copy of the gradient; existing ones are updated together.
      std::vector<torch::Tensor> buffers, updated, their_grads;
      for (std::size_t i = 0; i < params.size(); ++i) {
        auto key = state_key<decltype(state_)>(params[i]);
        auto found = state_.find(key);
        if (found == state_.end()) {
          auto state = std::make_unique<torch::optim::SGDParamState>();
          state->momentum_buffer(torch::clone(grads[i]).detach());
          buffers.push_back(state->momentum_buffer());
          state_.emplace(key, std::move(state));
        } else {
          torch::Tensor buffer = static_cast<torch::optim::SGDParamState&>(*found->second).momentum_buffer();
          buffers.push_back(buffer);
          updated.push_back(buffer);
          their_grads.push_back(grads[i]);
        }
      }
      if (!updated.empty()) {
        at::_foreach_mul_(updated, momentum);
        at::_foreach_add_(updated, their_grads, 1 - dampening);
      }
      if (options.nesterov())
        grads = at::_foreach_add(grads, buffers, momentum);
      else
        grads = buffers;
    }
    at::_foreach_add_(params, grads, -1 * options.lr());
  }
  return loss;
}

}  // namespace densemtl::train
