// Nash-MTL. Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022.
//
// The update Δθ = Gᵀα is the Nash bargaining solution over the ball: α > 0 with
//   (G Gᵀ) α = 1/α        (Theorem 5.1: α_i g_iᵀ Δθ = 1 for every task)
// The reference solves it with a sequence of convex programs (cvxpy, 20 iterations); this is the
// stationary point of the strictly convex ½ αᵀ(G Gᵀ)α − Σ log α_i, found here by Newton's method
// (solvers::fair_weights with a = 1; a relative ridge 1e-8 keeps it defined for opposite or zero
// gradients). The update is the gradient of Σ_t α_t L_t (heads weighted, as the reference's
// weighted loss), with the shared gradient's norm clipped to max_norm (1). α is recomputed every
// `every` steps (1) and kept in between, when no per-task gradients are needed.
#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class NashMtl : public Balancer {
 public:
  explicit NashMtl(const Setup& setup)
      : Balancer(setup), every_(options().get_int("every")), max_norm_(options().get_float("max_norm")) {
    alpha_ = task_buffer("alpha", torch::ones({static_cast<std::int64_t>(tasks().size())}, torch::kFloat64));
    steps_ = state().register_buffer("steps", torch::zeros({}, torch::kLong));
    show_weights(alpha_);
  }
  std::string name() const override { return "nash_mtl"; }
  // Per-task gradients only on the steps that solve for α.
  Mode mode() const override { return steps_.item<std::int64_t>() % every_ == 0 ? Mode::Parameters : Mode::Losses; }

  void after_backward(Context& context) override {
    steps_ += 1;
    if (max_norm_ > 0) torch::nn::utils::clip_grad_norm_(context.model.shared_parameters(), max_norm_);
  }

 protected:
  Combination combine(const torch::Tensor& G, const Losses&, Context&) override {
    solvers::Vector a = solvers::fair_weights(gram_matrix(G), 1.0);
    alpha_.copy_(torch::tensor(a, torch::kFloat64));
    return Combination::of_weights(to_tensor(a, G));
  }
  torch::Tensor objective(const Losses& losses, Context&) override {
    show_weights(alpha_);
    return losses.weighted_sum(alpha_);
  }

 private:
  std::int64_t every_;
  double max_norm_;
  torch::Tensor alpha_, steps_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"nash_mtl", 150, "Nash-MTL (Navon et al. 2022): the Nash bargaining solution of the task gradients",
                                  balancer<NashMtl>,
                                  {config::integer("every", 1, 1, 1000000, "Solve for the weights every k steps (the reference: 1)"),
                                   config::real("max_norm", 1.0, 0.0, 1e9, "Clip the shared gradient's norm to this (0 = no clipping)")}});

}  // namespace densemtl::balancing
