// Random loss weighting. Lin et al., "Reasonable Effectiveness of Random Weighting: A Litmus
// Test for Multi-Task Learning", TMLR 2022.
//
// Every step draws λ = softmax(z), z ~ N(0, I_T), and minimises Σ_t λ_t L_t (LibMTL's default
// distribution). The draws come from the CPU generator, which checkpoints save.
#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class RandomLossWeighting : public Balancer {
 public:
  using Balancer::Balancer;
  std::string name() const override { return "rlw"; }
  Mode mode() const override { return Mode::Losses; }

 protected:
  torch::Tensor loss_weights(const Losses& losses, Context&) override {
    return torch::softmax(torch::randn({static_cast<std::int64_t>(losses.tasks().size())}, torch::kFloat64), 0);
  }
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"rlw", 50, "random loss weighting (Lin et al. 2022): weights softmax(N(0, I)) every step",
                                  balancer<RandomLossWeighting>});

}  // namespace densemtl::balancing
