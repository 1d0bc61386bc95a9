// Fixed loss weights: L = Σ_t w_t L_t, one backward pass. The reference's only scheme
// (loss_schemes.py: MultiTaskLoss, PADNetLoss, MTINetLoss), with its per-dataset weights in the
// configs (tasks.loss_weights; a task without one weighs 1). Auxiliary (deep-supervision) terms
// carry their task's weight, as in PADNetLoss and MTINetLoss.
#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class Fixed : public Balancer {
 public:
  explicit Fixed(const Setup& setup) : Balancer(setup) { show_weights(torch::tensor(configured(), torch::kFloat64)); }
  std::string name() const override { return "fixed"; }
  Mode mode() const override { return Mode::Losses; }

 protected:
  torch::Tensor objective(const Losses& losses, Context&) override { return losses.weighted_sum(configured()); }

 private:
  // tasks.loss_weights of the balanced tasks (1 where none is set).
  std::vector<double> configured() const {
    std::vector<double> w;
    for (const auto& t : tasks()) w.push_back(setup().loss_weights.count(t) ? setup().loss_weights.at(t) : 1.0);
    return w;
  }
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"fixed", 10, "fixed loss weights (tasks.loss_weights; missing = 1), the reference's scheme",
                                  balancer<Fixed>, {}, /*uses_loss_weights=*/true});

}  // namespace densemtl::balancing
