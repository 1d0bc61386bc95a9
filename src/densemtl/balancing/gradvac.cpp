// GradVac. Wang et al., "Gradient Vaccine: Investigating and Improving Multi-task Optimization in
// Massively Multilingual Models", ICLR 2021, Algorithm 1.
//
// For each task i, for each other task j in random order, per group of parameters:
//   φ = cos(g_i^PC, g_j);  if φ < φ̂_ij:
//       g_i^PC ← g_i^PC + |g_i^PC| (φ̂ √(1−φ²) − φ √(1−φ̂²)) / (|g_j| √(1−φ̂²)) g_j
//   φ̂_ij ← (1 − β) φ̂_ij + β φ          (every pair, every step: the paper's EMA of the
//                                        similarity goal; LibMTL updates it only when φ < φ̂)
//   Δθ_shared = Σ_i g_i^PC
// on the shared parameters, groups: the whole model, or each parameter tensor. β = 0.01 (the
// paper). φ̂ (T x T x groups) is checkpointed.
#include <cmath>

#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class GradVac : public Balancer {
 public:
  explicit GradVac(const Setup& setup)
      : Balancer(setup), beta_(options().get_float("beta")), per_tensor_(options().get_string("groups") == "tensor") {
    targets_ = task_buffer("similarity_targets", torch::zeros({0}, torch::kFloat64), {0, 1});
  }
  std::string name() const override { return "gradvac"; }
  Mode mode() const override { return Mode::Parameters; }

 protected:
  Combination combine(const torch::Tensor& G, const Losses&, Context& context) override {
    torch::NoGradGuard guard;
    // Group boundaries along the flattened shared parameters.
    std::vector<std::int64_t> bounds = {0};
    if (per_tensor_)
      for (const auto& p : context.model.shared_parameters()) bounds.push_back(bounds.back() + p.numel());
    else
      bounds.push_back(G.size(1));
    const std::int64_t T = G.size(0), K = static_cast<std::int64_t>(bounds.size()) - 1;
    if (targets_.numel() == 0) targets_.set_data(torch::zeros({T, T, K}, torch::kFloat64));
    torch::Tensor g = G.to(torch::kFloat64);
    torch::Tensor pc = g.clone();
    auto phi_hat = targets_.accessor<double, 3>();
    for (std::int64_t i = 0; i < T; ++i) {
      torch::Tensor order = torch::randperm(T, torch::TensorOptions().dtype(torch::kLong));
      for (std::int64_t o = 0; o < T; ++o) {
        std::int64_t j = order[o].item<std::int64_t>();
        if (j == i) continue;
        for (std::int64_t k = 0; k < K; ++k) {
          torch::Tensor a = pc[i].slice(0, bounds[static_cast<std::size_t>(k)], bounds[static_cast<std::size_t>(k + 1)]);
          torch::Tensor b = g[j].slice(0, bounds[static_cast<std::size_t>(k)], bounds[static_cast<std::size_t>(k + 1)]);
          const double na = a.norm().item<double>(), nb = b.norm().item<double>();
          const double phi = torch::dot(a, b).item<double>() / (na * nb + 1e-8);
          const double target = phi_hat[i][j][k];
          if (phi < target) {
            double w = na * (target * std::sqrt(std::max(0.0, 1 - phi * phi)) - phi * std::sqrt(std::max(0.0, 1 - target * target))) /
                       (nb * std::sqrt(std::max(0.0, 1 - target * target)) + 1e-8);
            a.add_(b, w);
          }
          phi_hat[i][j][k] = (1 - beta_) * target + beta_ * phi;
        }
      }
    }
    return Combination::of_direction(pc.sum(0).to(G.scalar_type()));
  }

 private:
  double beta_;
  bool per_tensor_;
  torch::Tensor targets_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"gradvac", 120, "GradVac (Wang et al. 2021): raise gradient similarities towards their running targets",
                                  balancer<GradVac>,
                                  {config::real("beta", 0.01, 0.0, 1.0, "EMA factor β of the similarity targets (the paper: 0.01; LibMTL 0.5)"),
                                   config::choice("groups", "whole", {"whole", "tensor"}, "Similarity per whole model or per parameter tensor")}});

}  // namespace densemtl::balancing
