// FairGrad. Ban & Ji, "Fair Resource Allocation in Multi-Task Learning", ICML 2024.
//
// α-fair allocation of the update d = Gᵀw among the tasks: maximise Σ_t (g_tᵀd)^{1−a}/(1−a)
// (a = 1: Σ log, proportional fairness, Nash-MTL's point; a → ∞: max-min fairness). The optimum
// satisfies (G Gᵀ) w = w^{−1/a} elementwise; LibMTL solves it with SciPy's least_squares, here by
// Newton's method on the equivalent strictly convex problem (solvers::fair_weights). The update
// is the gradient of Σ_t w_t L_t (LibMTL's); a = 1 by default (LibMTL; the paper also uses 2).
#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class FairGrad : public Balancer {
 public:
  explicit FairGrad(const Setup& setup) : Balancer(setup), a_(options().get_float("alpha")) {}
  std::string name() const override { return "fairgrad"; }
  Mode mode() const override { return Mode::Parameters; }

 protected:
  Combination combine(const torch::Tensor& G, const Losses&, Context&) override {
    return Combination::of_weights(to_tensor(solvers::fair_weights(gram_matrix(G), a_), G));
  }

 private:
  double a_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"fairgrad", 180, "FairGrad (Ban & Ji 2024): alpha-fair allocation of the update among the tasks",
                                  balancer<FairGrad>,
                                  {exclusive_min(config::real("alpha", 1.0, 0.0, 100.0, "Fairness a (1: proportional fairness; larger: towards max-min)"))}});

}  // namespace densemtl::balancing
