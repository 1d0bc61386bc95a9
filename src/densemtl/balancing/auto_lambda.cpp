// Auto-Lambda. Liu, James, Davison & Johns, "Auto-Lambda: Disentangling Dynamic Task
// Relationships", TMLR 2022 (Eq. 3-5 and the official code's finite differences).
//
// Task weights λ (0.1 at the start, unconstrained) are learned at every step, before the
// model's update, so that one virtual step of the training objective lowers the loss of the main
// (primary) tasks on a validation batch:
//   1. g = ∇_θ Σ_t λ_t L_t^train(θ);  θ' = θ − α g           (α: the current learning rate)
//   2. d = ∇_θ' Σ_{t main} L_t^val(θ')
//   3. ∂L^val/∂λ_t ≈ −α (L_t^train(θ + ε d) − L_t^train(θ − ε d)) / (2ε),  ε = 0.01 / |d|
//      (the Hessian-vector product by finite differences)
//   4. λ ← Adam(λ, lr 1e-4) with that gradient
// then the model is updated with the gradient of Σ_t λ_t L_t^train. The virtual step is plain
// gradient descent (the official code replays SGD with momentum; densemtl's optimizers differ, so
// the paper's first-order form is used). The validation batches come from the run's validation
// split. λ and its Adam state are checkpointed. Costs per step: 2 extra backward passes and 3
// extra forward passes (the extra forward passes update batch-norm statistics, as the official
// code's do).
#include "densemtl/balancing/balancer.h"
#include "densemtl/core/collective.h"

namespace densemtl::balancing {

namespace {

class AutoLambda : public Balancer {
 public:
  explicit AutoLambda(const Setup& setup) : Balancer(setup), lr_(options().get_float("lr")) {
    const auto t = static_cast<std::int64_t>(tasks().size());
    lambda_ = task_buffer("lambda", torch::full({t}, options().get_float("init"), torch::kFloat64));
    m_ = task_buffer("adam_m", torch::zeros({t}, torch::kFloat64));
    v_ = task_buffer("adam_v", torch::zeros({t}, torch::kFloat64));
    steps_ = task_buffer("adam_steps", torch::zeros({t}, torch::kLong));
    show_weights(lambda_);
  }
  std::string name() const override { return "auto_lambda"; }
  Mode mode() const override { return Mode::Losses; }
  bool needs_validation_batches() const override { return true; }

 protected:
  torch::Tensor objective(const Losses& losses, Context& context) override {
    update_lambda(losses, context);
    show_weights(lambda_);
    return losses.weighted_sum(lambda_);
  }

 private:
  // Sets every parameter to `values` (new storage; the originals stay untouched for the graph).
  static void assign(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& values) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      torch::Tensor p = params[i];
      p.set_data(values[i]);
    }
  }

  // Several processes: each gradient is that of the process's share of the loss; they add up.
  static void sum_over_processes(const std::vector<torch::Tensor>& params, std::vector<torch::Tensor>& grads) {
    if (!world()) return;
    for (std::size_t i = 0; i < grads.size(); ++i) {
      if (!grads[i].defined()) grads[i] = torch::zeros_like(params[i]);
      grads[i] = grads[i].contiguous();
    }
    world()->all_reduce_sum(grads);
  }

  static std::vector<torch::Tensor> axpy(const std::vector<torch::Tensor>& x, double a, const std::vector<torch::Tensor>& y) {
    std::vector<torch::Tensor> out;
    for (std::size_t i = 0; i < x.size(); ++i) out.push_back(y[i].defined() ? x[i] + a * y[i] : x[i].clone());
    return out;
  }

  void update_lambda(const Losses& losses, Context& context) {
    const double alpha = context.learning_rate;
    std::vector<torch::Tensor> params = context.model.parameters();
    std::vector<torch::Tensor> original;
    for (const auto& p : params) original.push_back(p.detach());
    // 1. The virtual step.
    torch::Tensor objective = losses.weighted_sum(lambda_.detach());
    auto g = torch::autograd::grad({objective}, params, {}, /*retain_graph=*/true, false, /*allow_unused=*/true);
    sum_over_processes(params, g);
    assign(params, axpy(original, -alpha, g));
    // 2. The main tasks' validation loss at θ'.
    torch::Tensor d_norm_sq;  // on the parameters' device: one read-back, not one per tensor
    std::vector<torch::Tensor> d;
    {
      Losses val = context.validation_losses();
      torch::Tensor primary;
      for (const auto& term : val.terms())
        if (!term.auxiliary) primary = primary.defined() ? primary + term.value : term.value;
      auto grads = torch::autograd::grad({primary}, params, {}, false, false, true);
      sum_over_processes(params, grads);
      for (auto& gr : grads) {
        if (gr.defined()) {
          torch::Tensor sq = gr.to(torch::kFloat64).pow(2).sum();
          d_norm_sq = d_norm_sq.defined() ? d_norm_sq + sq : sq;
        }
        d.push_back(gr);
      }
    }
    const double d_norm = d_norm_sq.defined() ? std::sqrt(d_norm_sq.item<double>()) : 0.0;
    const double eps = 0.01 / std::max(d_norm, 1e-20);
    // 3. Finite differences of the training losses along d.
    assign(params, axpy(original, eps, d));
    torch::Tensor plus = torch::stack(context.recompute_losses().objectives()).to(torch::kCPU, torch::kFloat64);
    assign(params, axpy(original, -eps, d));
    torch::Tensor minus = torch::stack(context.recompute_losses().objectives()).to(torch::kCPU, torch::kFloat64);
    assign(params, original);
    torch::Tensor hessian_vector = (plus - minus) / (2 * eps);
    // 4. λ's step.
    adam_step(lambda_, m_, v_, steps_, (-alpha * hessian_vector).to(lambda_.device()), lr_);
  }

  double lr_;
  torch::Tensor lambda_, m_, v_, steps_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"auto_lambda", 300, "Auto-Lambda (Liu et al. 2022): weights learned through a virtual step on validation batches",
                                  balancer<AutoLambda>,
                                  {exclusive_min(config::real("lr", 1e-4, 0.0, 10.0, "Adam learning rate of the task weights (the paper: 1e-4 for dense tasks)")),
                                   config::real("init", 0.1, 0.0, 100.0, "Initial task weight")}});

}  // namespace densemtl::balancing
