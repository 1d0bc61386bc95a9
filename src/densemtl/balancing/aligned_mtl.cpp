// Aligned-MTL. Senushkin et al., "Independent Component Alignment for Multi-Task Learning",
// CVPR 2023, Algorithm 1.
//
// With M = G Gᵀ = V Λ Vᵀ (eigenvalues below max(λ) · T · ε_float32 dropped):
//   B = √λ_min V Λ^{−1/2} Vᵀ,   α = B 1,   Δθ_shared = Gᵀ α
// so that the aligned task gradients B G are orthogonal with equal norms √λ_min (condition
// number 1). On the shared parameters, or on the shared representation (Aligned-MTL-UB, the
// paper's cheaper variant; mode: rep, the default); the heads keep their own gradients.
#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class AlignedMtl : public Balancer {
 public:
  explicit AlignedMtl(const Setup& setup) : Balancer(setup), mode_(read_mode(options())) {}
  std::string name() const override { return "aligned_mtl"; }
  Mode mode() const override { return mode_; }

 protected:
  Combination combine(const torch::Tensor& G, const Losses&, Context&) override {
    solvers::Matrix b = solvers::align(gram_matrix(G));
    solvers::Vector alpha(static_cast<std::size_t>(b.n), 0.0);
    for (int i = 0; i < b.n; ++i)
      for (int j = 0; j < b.n; ++j) alpha[static_cast<std::size_t>(i)] += b(i, j);
    torch::Tensor a = to_tensor(alpha, G);
    show_weights(a);
    return Combination::of_direction(torch::matmul(a, G));
  }

 private:
  Mode mode_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"aligned_mtl", 160, "Aligned-MTL (Senushkin et al. 2023): a gradient system with condition number 1",
                                  balancer<AlignedMtl>, {mode_option("rep")}});

}  // namespace densemtl::balancing
