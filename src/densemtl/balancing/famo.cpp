// FAMO. Liu et al., "FAMO: Fast Adaptive Multitask Optimization", NeurIPS 2023, Algorithm 1.
//
// Task logits ξ (0 at the start), z = softmax(ξ), offsets L*_t (the losses' lower bounds, 0):
//   step:  minimise Σ_t z_t log(L_t − L*_t) / c  with c = Σ_t z_t / (L_t − L*_t) (no gradient through
//          c): the same update as Σ_t α_t L_t with α_t = (z_t / (L_t − L*_t)) / c — one backward;
//   after the optimizer step, the losses L'_t of the same batch:
//          δ_t = log(L_t − L*_t) − log(L'_t − L*_t)
//          ξ ← ξ − β Adam(∇_ξ zᵀδ + γ ξ),   ∇_ξ zᵀδ = z ⊙ (δ − zᵀδ)
// β = 0.025, γ = 0.01 (the official code; LibMTL uses γ = 0.001). ξ is updated by its own Adam
// (as both the official code and LibMTL do), whose state is checkpointed with ξ.
#include <cmath>

#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class Famo : public Balancer {
 public:
  explicit Famo(const Setup& setup)
      : Balancer(setup), lr_(options().get_float("lr")), decay_(options().get_float("decay")),
        floor_(options().get_float("min_loss")) {
    const auto t = static_cast<std::int64_t>(tasks().size());
    xi_ = task_buffer("logits", torch::zeros({t}, torch::kFloat64));
    m_ = task_buffer("adam_m", torch::zeros({t}, torch::kFloat64));
    v_ = task_buffer("adam_v", torch::zeros({t}, torch::kFloat64));
    steps_ = task_buffer("adam_steps", torch::zeros({t}, torch::kLong));
  }
  std::string name() const override { return "famo"; }
  Mode mode() const override { return Mode::Losses; }

  void after_step(Context& context) override {
    if (!before_.defined() || !context.recompute_losses) return;
    torch::NoGradGuard g;
    Losses now = context.recompute_losses();
    torch::Tensor after = torch::stack(now.objectives()).to(xi_.device(), torch::kFloat64);
    torch::Tensor delta = torch::log(before_ - floor_ + 1e-8) - torch::log(after - floor_ + 1e-8);
    torch::Tensor z = torch::softmax(xi_, 0);
    torch::Tensor grad = z * (delta - (z * delta).sum()) + decay_ * xi_;  // coupled weight decay, as Adam's
    adam_step(xi_, m_, v_, steps_, grad, lr_);
    before_ = torch::Tensor();
  }

 protected:
  torch::Tensor objective(const Losses& losses, Context&) override {
    torch::Tensor l = torch::stack(losses.objectives()).detach().to(xi_.device(), torch::kFloat64);
    before_ = l;
    torch::Tensor z = torch::softmax(xi_, 0);
    torch::Tensor a = z / (l - floor_ + 1e-8);
    torch::Tensor alpha = a / a.sum();
    show_weights(alpha);
    return losses.weighted_sum(alpha);
  }

 private:
  double lr_, decay_, floor_;
  torch::Tensor xi_, m_, v_, steps_, before_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"famo", 200, "FAMO (Liu et al. 2023): balanced loss decrease, one backward per step", balancer<Famo>,
                                  {exclusive_min(config::real("lr", 0.025, 0.0, 10.0, "Step size β of the task logits")),
                                   config::real("decay", 0.01, 0.0, 10.0, "Weight decay γ of the task logits (official 0.01; LibMTL 0.001)"),
                                   config::real("min_loss", 0.0, -1e9, 1e9, "Lower bound L* of every task loss")}});

}  // namespace densemtl::balancing
