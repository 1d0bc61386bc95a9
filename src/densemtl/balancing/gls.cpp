// Geometric loss strategy. Chennupati et al., "MultiNet++: Multi-Stream Feature Aggregation and
// Geometric Loss Strategy for Multi-Task Learning", CVPR Workshops 2019 (as in LibMTL, Lin et al.).
//
// The objective is the geometric mean of the task losses, L = (Π_t L_t)^{1/T}, computed as
// exp(mean_t log L_t): task t's gradient is scaled by L / (T L_t), so that a task whose loss is
// small relative to the others is weighted up.
#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class GeometricLoss : public Balancer {
 public:
  using Balancer::Balancer;
  std::string name() const override { return "gls"; }
  Mode mode() const override { return Mode::Losses; }

 protected:
  torch::Tensor objective(const Losses& losses, Context&) override {
    torch::Tensor l = torch::stack(losses.objectives());
    torch::Tensor total = torch::exp(torch::log(l).mean());
    show_weights(total.detach() / (static_cast<double>(l.numel()) * l.detach()));  // ∂L/∂L_t
    return total;
  }
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"gls", 60, "geometric loss strategy: the geometric mean of the task losses", balancer<GeometricLoss>});

}  // namespace densemtl::balancing
