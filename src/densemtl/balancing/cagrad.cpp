// CAGrad. Liu et al., "Conflict-Averse Gradient Descent for Multi-task Learning", NeurIPS 2021,
// Algorithm 1 (the dual form, as the official code).
//
// With g_0 = (1/T) Σ_t g_t and M = G Gᵀ:
//   w* = argmin_{w ∈ Δ} wᵀ M 1/T + c |g_0| √(wᵀ M w)         (|g_0|² = 1ᵀ M 1 / T²)
//   d  = g_0 + (c |g_0| / |g_w*|) g_w*,   g_w = Σ_t w_t g_t
//   Δθ_shared = d / (1 + c²)          (rescale, the official default)
// on the shared parameters; c = 0.5. The small convex problem is solved by projected gradient
// descent on the simplex (the official code uses SciPy's SLSQP).
#include <cmath>

#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class CaGrad : public Balancer {
 public:
  explicit CaGrad(const Setup& setup) : Balancer(setup), c_(options().get_float("c")), rescale_(options().get_bool("rescale")) {}
  std::string name() const override { return "cagrad"; }
  Mode mode() const override { return Mode::Parameters; }

 protected:
  Combination combine(const torch::Tensor& G, const Losses&, Context&) override {
    solvers::Matrix m = gram_matrix(G);
    const int n = m.n;
    solvers::Vector mean(static_cast<std::size_t>(n), 1.0 / n);
    solvers::Vector b = solvers::multiply(m, mean);  // M 1/T
    const double g0 = std::sqrt(std::max(0.0, solvers::dot(mean, b)));
    const double k = c_ * g0;
    auto f = [&](const solvers::Vector& w) { return solvers::dot(w, b) + k * std::sqrt(solvers::quadratic(m, w) + 1e-12); };
    auto grad = [&](const solvers::Vector& w) {
      solvers::Vector mw = solvers::multiply(m, w), g(w.size());
      double norm = std::sqrt(solvers::dot(w, mw) + 1e-12);
      for (std::size_t i = 0; i < w.size(); ++i) g[i] = b[i] + k * mw[i] / norm;
      return g;
    };
    solvers::Vector w = solvers::minimise_on_simplex(f, grad, mean);
    const double gw = std::sqrt(std::max(0.0, solvers::quadratic(m, w)));
    const double lambda = gw > 1e-12 ? k / gw : 0.0;
    // d = Σ_t (1/T + λ w_t) g_t, as task weights on G.
    solvers::Vector alpha(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) alpha[i] = (1.0 / n + lambda * w[i]) / (rescale_ ? 1 + c_ * c_ : 1.0);
    torch::Tensor a = to_tensor(alpha, G);
    show_weights(a);
    return Combination::of_direction(torch::matmul(a, G));
  }

 private:
  double c_;
  bool rescale_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"cagrad", 130, "CAGrad (Liu et al. 2021): the best worst-case improvement near the mean gradient",
                                  balancer<CaGrad>,
                                  {config::real("c", 0.5, 0.0, 1e6, "Radius c of the ball around the mean gradient (the paper: 0.5)"),
                                   config::boolean("rescale", true, "Divide the update by 1 + c² (the official default)")}});

}  // namespace densemtl::balancing
