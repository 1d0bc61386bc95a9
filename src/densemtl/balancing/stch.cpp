// STCH. Lin et al., "Smooth Tchebycheff Scalarization for Multi-Objective Optimization", ICML 2024
// (its multi-task form, as the authors' LibMTL code).
//
// The smooth Tchebycheff scalarisation g_μ = μ log Σ_t exp(λ_t (f_t − z_t) / μ) with λ_t = 1 on
// normalised log losses f_t = log(L_t / n_t), where n_t is task t's mean loss over the last
// warm-up epoch (the reference point), scaled by T:
//   epochs < W:   Σ_t log L_t  (and in epoch W−1 the mean losses are gathered)
//   epochs ≥ W:   T μ log Σ_t exp(f_t / μ)
// μ = 1, W = 4 (the authors' defaults; W = 0 starts at once with n_t = 1). The effective weight
// of task t is T softmax(f/μ)_t / L_t. The reference point is checkpointed.
#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class Stch : public Balancer {
 public:
  explicit Stch(const Setup& setup) : Balancer(setup), mu_(options().get_float("mu")), warmup_(options().get_int("warmup_epochs")) {
    const auto t = static_cast<std::int64_t>(tasks().size());
    reference_ = task_buffer("reference", torch::ones({t}, torch::kFloat64));
    sum_ = task_buffer("sum", torch::zeros({t}, torch::kFloat64));
    count_ = task_buffer("count", torch::zeros({t}, torch::kFloat64));  // per task: its labelled warm-up steps
  }
  std::string name() const override { return "stch"; }
  Mode mode() const override { return Mode::Losses; }

 protected:
  torch::Tensor objective(const Losses& losses, Context& context) override {
    torch::Tensor l = torch::stack(losses.objectives());
    const double T = static_cast<double>(l.numel());
    if (context.epoch < warmup_) {
      if (context.epoch == warmup_ - 1) {
        torch::NoGradGuard g;
        sum_ += l.detach().to(sum_.device(), torch::kFloat64);
        count_ += 1;
        reference_.copy_(sum_ / count_);
      }
      show_weights(1.0 / l.detach());
      return torch::log(l + 1e-20).sum();
    }
    torch::Tensor f = torch::log(l / reference_.to(l.device(), l.scalar_type()) + 1e-20);
    torch::Tensor m = f.detach().max();
    show_weights(T * torch::softmax(f.detach() / mu_, 0) / l.detach());
    return T * mu_ * torch::logsumexp((f - m) / mu_, 0);
  }

 private:
  double mu_;
  std::int64_t warmup_;
  torch::Tensor reference_, sum_, count_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"stch", 210, "STCH (Lin et al. 2024): smooth Tchebycheff scalarisation of the normalised log losses",
                                  balancer<Stch>,
                                  {exclusive_min(config::real("mu", 1.0, 0.0, 1e6, "Smoothing μ (→ 0: the Tchebycheff max)")),
                                   config::integer("warmup_epochs", 4, 0, 1000000, "Epochs of summed log losses before; the last gives the reference point")}});

}  // namespace densemtl::balancing
