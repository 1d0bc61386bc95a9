// PCGrad. Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020, Algorithm 1.
//
//   for each task i: g_i^PC = g_i
//     for each j ≠ i in random order: if g_i^PC · g_j < 0: g_i^PC ← g_i^PC − (g_i^PC · g_j / |g_j|²) g_j
//   Δθ_shared = Σ_i g_i^PC   (task-specific parameters keep their own gradients)
// on the shared parameters (the paper's formulation). The orders come from the CPU generator,
// which checkpoints save.
#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class PcGrad : public Balancer {
 public:
  using Balancer::Balancer;
  std::string name() const override { return "pcgrad"; }
  Mode mode() const override { return Mode::Parameters; }

 protected:
  Combination combine(const torch::Tensor& G, const Losses&, Context&) override {
    const std::int64_t T = G.size(0);
    torch::Tensor norms_sq = (G * G).sum(1);
    torch::Tensor projected = G.clone();
    for (std::int64_t i = 0; i < T; ++i) {
      torch::Tensor order = torch::randperm(T, torch::TensorOptions().dtype(torch::kLong));
      torch::Tensor gi = projected[i];
      for (std::int64_t k = 0; k < T; ++k) {
        std::int64_t j = order[k].item<std::int64_t>();
        if (j == i) continue;
        double d = torch::dot(gi, G[j]).item<double>();
        if (d < 0) gi.sub_(G[j] * (d / std::max(norms_sq[j].item<double>(), 1e-20)));
      }
    }
    return Combination::of_direction(projected.sum(0));
  }
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"pcgrad", 110, "PCGrad (Yu et al. 2020): project away conflicting gradient components",
                                  balancer<PcGrad>});

}  // namespace densemtl::balancing
