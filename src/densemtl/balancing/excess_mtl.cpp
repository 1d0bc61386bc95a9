// ExcessMTL. He et al., "Robust Multi-Task Learning with Excess Risks", ICML 2024 (the authors'
// LibMTL code).
//
// Each task's excess risk is estimated by a Taylor expansion with a diagonal (AdaGrad) Hessian:
//   A_t ← A_t + g_t²,   e_t = Σ_k g_tk² / √(A_tk + 1e-7)
// the first step's e⁰ normalises the scales, and the weights follow exponentiated gradient:
//   w ← w ⊙ exp(η e / e⁰),   w ← T w / Σ w       (w = 1 on the first step)
// the update is the gradient of Σ_t w_t L_t (heads weighted). η = 0.01. A (T x P), e⁰ and w are
// checkpointed.
#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class ExcessMtl : public Balancer {
 public:
  explicit ExcessMtl(const Setup& setup) : Balancer(setup), eta_(options().get_float("step_size")) {
    const auto t = static_cast<std::int64_t>(tasks().size());
    accumulator_ = task_buffer("accumulator", torch::zeros({0}));
    first_ = task_buffer("first_excess", torch::zeros({t}, torch::kFloat64));
    weights_ = task_buffer("weights", torch::ones({t}, torch::kFloat64));
    show_weights(weights_);
  }
  std::string name() const override { return "excess_mtl"; }
  Mode mode() const override { return Mode::Parameters; }

 protected:
  Combination combine(const torch::Tensor& G, const Losses&, Context&) override {
    torch::NoGradGuard g;
    if (accumulator_.numel() == 0) accumulator_.set_data(torch::zeros_like(G));
    accumulator_.add_(G * G);
    torch::Tensor excess = ((G * G) / torch::sqrt(accumulator_ + 1e-7)).sum(1).to(torch::kFloat64);
    // A task's first step (its first labelled one) only records its excess risk.
    torch::Tensor first = first_.eq(0);
    if (first.all().item<bool>()) {
      first_.copy_(excess.clamp_min(1e-20));
    } else {
      torch::Tensor scale = torch::where(first, torch::ones_like(excess), torch::exp(eta_ * excess / first_.clamp_min(1e-20)));
      first_.copy_(torch::where(first, excess.clamp_min(1e-20), first_));
      weights_.mul_(scale);
      weights_.mul_(static_cast<double>(weights_.numel()) / weights_.sum());
    }
    return Combination::of_weights(weights_.to(G.scalar_type()));
  }

 private:
  double eta_;
  torch::Tensor accumulator_, first_, weights_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"excess_mtl", 220, "ExcessMTL (He et al. 2024): weights from estimated excess risks",
                                  balancer<ExcessMtl>,
                                  {config::real("step_size", 0.01, 0.0, 100.0, "Robust step size η of the exponentiated-gradient weights")}});

}  // namespace densemtl::balancing
