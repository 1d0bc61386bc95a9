// MoCo. Fernando et al., "Mitigating Gradient Bias in Multi-objective Learning: A Provably
// Convergent Approach", ICLR 2023 (LibMTL's implementation of the authors' practical variant).
//
// A tracked estimate Y of the per-task gradients and the MGDA-like weights λ (1/T at first):
//   h_t = L_t g_t / (|g_t| + 1e-8)                    (loss-scaled unit gradients)
//   β_k = β / k^{σ_β},  γ_k = γ / k^{σ_γ}
//   Y ← Y − β_k (Y − H)
//   λ ← softmax(λ − γ_k (Y Yᵀ + ρ I) λ)
//   Δθ_shared = Yᵀ λ
// on the shared parameters; the heads keep their own gradients. β = 0.5, σ_β = 0.5, γ = 0.1,
// σ_γ = 0.5, ρ = 0 (LibMTL). Y (T x P), λ and k are checkpointed.
#include <cmath>

#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class MoCo : public Balancer {
 public:
  explicit MoCo(const Setup& setup)
      : Balancer(setup), beta_(options().get_float("beta")), beta_sigma_(options().get_float("beta_sigma")),
        gamma_(options().get_float("gamma")), gamma_sigma_(options().get_float("gamma_sigma")), rho_(options().get_float("rho")) {
    const auto t = static_cast<std::int64_t>(tasks().size());
    tracked_ = task_buffer("tracked", torch::zeros({0}));
    lambda_ = task_buffer("lambda", torch::full({t}, 1.0 / static_cast<double>(t), torch::kFloat64));
    steps_ = state().register_buffer("steps", torch::zeros({}, torch::kLong));
  }
  std::string name() const override { return "moco"; }
  Mode mode() const override { return Mode::Parameters; }

 protected:
  Combination combine(const torch::Tensor& G, const Losses& losses, Context&) override {
    torch::NoGradGuard g;
    if (tracked_.numel() == 0) tracked_.set_data(torch::zeros_like(G));
    // λ lives on the simplex of the balanced tasks (of the labelled ones in a partially labelled step).
    if (tasks().size() != setup().tasks.size()) lambda_.div_(lambda_.sum());
    steps_ += 1;
    const double k = static_cast<double>(steps_.item<std::int64_t>());
    torch::Tensor values = torch::stack(losses.objectives()).detach().to(G.scalar_type()).unsqueeze(1);
    torch::Tensor h = G / (G.norm(2, 1, true) + 1e-8) * values;
    tracked_.sub_((tracked_ - h) * (beta_ / std::pow(k, beta_sigma_)));
    torch::Tensor yy = torch::matmul(tracked_, tracked_.t()).to(torch::kFloat64);
    yy += rho_ * torch::eye(yy.size(0), yy.options());
    lambda_.copy_(torch::softmax(lambda_ - (gamma_ / std::pow(k, gamma_sigma_)) * torch::matmul(yy, lambda_), 0));
    show_weights(lambda_);
    return Combination::of_direction(torch::matmul(lambda_.to(G.scalar_type()), tracked_));
  }

 private:
  double beta_, beta_sigma_, gamma_, gamma_sigma_, rho_;
  torch::Tensor tracked_, lambda_, steps_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"moco", 230, "MoCo (Fernando et al. 2023): MGDA-like weights on tracked task gradients", balancer<MoCo>,
                                  {config::real("beta", 0.5, 0.0, 1.0, "Tracking step β"),
                                   config::real("beta_sigma", 0.5, 0.0, 10.0, "Decay of β with the step count, β / k^σ"),
                                   config::real("gamma", 0.1, 0.0, 100.0, "Step γ of the task weights"),
                                   config::real("gamma_sigma", 0.5, 0.0, 10.0, "Decay of γ with the step count, γ / k^σ"),
                                   config::real("rho", 0.0, 0.0, 100.0, "Regularisation ρ of the weights' update")}});

}  // namespace densemtl::balancing
