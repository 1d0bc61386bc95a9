// UPGrad. Quinton & Layne, "Jacobian Descent for Multi-Objective Optimization", 2024 (torchjd).
//
// The average of the task gradients each projected onto the dual cone {x : G x ≥ 0} of the
// Jacobian (Proposition 1: π(Gᵀu) = Gᵀv with v = argmin_{v ≥ u} vᵀ (G Gᵀ) v):
//   K = G Gᵀ / trace (zero when the trace is below 1e-4), K += 1e-4 I
//   for every task i: v⁽ⁱ⁾ = argmin_{v ≥ e_i / T} vᵀ K v
//   w = Σ_i v⁽ⁱ⁾,   Δθ_shared = Gᵀ w
// on the shared parameters (torchjd and LibMTL); the heads keep their own gradients. The box
// QPs are solved natively (torchjd calls quadprog).
#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class UpGrad : public Balancer {
 public:
  using Balancer::Balancer;
  std::string name() const override { return "upgrad"; }
  Mode mode() const override { return Mode::Parameters; }

 protected:
  Combination combine(const torch::Tensor& G, const Losses&, Context&) override {
    solvers::Matrix k = gram_matrix(G);
    const int n = k.n;
    double trace = 0;
    for (int i = 0; i < n; ++i) trace += k(i, i);
    for (auto& x : k.a) x = trace < 1e-4 ? 0.0 : x / trace;
    for (int i = 0; i < n; ++i) k(i, i) += 1e-4;
    solvers::Vector w(static_cast<std::size_t>(n), 0.0);
    for (int i = 0; i < n; ++i) {
      solvers::Vector lower(static_cast<std::size_t>(n), 0.0);
      lower[static_cast<std::size_t>(i)] = 1.0 / n;
      solvers::Vector v = solvers::box_qp(k, lower);
      for (int j = 0; j < n; ++j) w[static_cast<std::size_t>(j)] += v[static_cast<std::size_t>(j)];
    }
    torch::Tensor a = to_tensor(w, G);
    show_weights(a);
    return Combination::of_direction(torch::matmul(a, G));
  }
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"upgrad", 170, "UPGrad (Quinton & Layne 2024): the mean of the gradients projected onto the dual cone",
                                  balancer<UpGrad>});

}  // namespace densemtl::balancing
