// MGDA-UB. Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018.
//
// Algorithm 2 of the paper, per step:
//   1. per-task gradients g_t of L_t, on the shared representation z (MGDA-UB, the upper bound
//      of Theorem 1: one encoder backward; mode: rep, the default) or on the shared parameters
//      (mode: params, plain MGDA);
//   2. normalised, ĝ_t = g_t / n_t, with n_t = 1 (none), |g_t| (l2), L_t (loss) or L_t |g_t|
//      (loss+), as the reference code's gradient_normalizers;
//   3. α = argmin_{α ∈ Δ} |Σ_t α_t ĝ_t|² (Algorithm 1: the pair closed form, Frank–Wolfe beyond
//      two tasks; solver: exact enumerates the supports instead);
//   4. the update is the gradient of Σ_t α_t L_t (the reference's second backward with scale[t]).
#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class Mgda : public Balancer {
 public:
  explicit Mgda(const Setup& setup)
      : Balancer(setup), mode_(read_mode(options())), normalisation_(options().get_string("normalisation")),
        exact_(options().get_string("solver") == "exact") {}
  std::string name() const override { return "mgda"; }
  Mode mode() const override { return mode_; }

 protected:
  Combination combine(const torch::Tensor& G, const Losses& losses, Context&) override {
    torch::Tensor n = torch::ones({G.size(0)}, G.options().dtype(torch::kFloat64));
    torch::Tensor norms = G.to(torch::kFloat64).norm(2, 1);
    torch::Tensor values = torch::stack(losses.objectives()).detach().to(torch::kFloat64);
    if (normalisation_ == "l2") n = norms;
    else if (normalisation_ == "loss") n = values;
    else if (normalisation_ == "loss+") n = values * norms;
    n = n.clamp_min(1e-12);
    torch::Tensor normalised = G.to(torch::kFloat64) / n.unsqueeze(1);
    solvers::Matrix m = gram_matrix(normalised);
    solvers::Vector alpha = exact_ ? solvers::min_norm_exact(m) : solvers::min_norm_frank_wolfe(m);
    return Combination::of_weights(to_tensor(alpha, G));
  }

 private:
  Mode mode_;
  std::string normalisation_;
  bool exact_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"mgda", 100, "MGDA-UB (Sener & Koltun 2018): the min-norm point of the task gradients", balancer<Mgda>,
                                  {mode_option("rep"),
                                   config::choice("normalisation", "none", {"none", "l2", "loss", "loss+"},
                                                  "Gradient normalisation before the min-norm problem (the reference's gradient_normalizers)"),
                                   config::choice("solver", "frank_wolfe", {"frank_wolfe", "exact"},
                                                  "frank_wolfe: the paper's Algorithm 1 (250 iterations); exact: enumerate the supports")}});

}  // namespace densemtl::balancing
