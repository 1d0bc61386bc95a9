// DB-MTL. Lin et al., "Dual-Balancing for Multi-Task Learning", 2023 (LibMTL, the authors' code).
//
// Loss-scale balancing: each task's objective is log L_t. Gradient-magnitude balancing: an
// exponential moving average of the per-task gradients of log L_t on the shared parameters,
//   β_k = β / k^σ,   ḡ_t ← β_k ḡ_t + (1 − β_k) ∇ log(L_t + 1e-8)
// each rescaled to the largest norm:  Δθ_shared = Σ_t (max_s |ḡ_s| / (|ḡ_t| + 1e-8)) ḡ_t.
// β = 0.9, σ = 0. The heads get the gradients of Σ_t log L_t. The averages (T x P) are checkpointed.
#include <cmath>

#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class DbMtl : public Balancer {
 public:
  explicit DbMtl(const Setup& setup) : Balancer(setup), beta_(options().get_float("beta")), sigma_(options().get_float("beta_sigma")) {
    average_ = task_buffer("gradient_average", torch::zeros({0}));
    steps_ = state().register_buffer("steps", torch::zeros({}, torch::kLong));
  }
  std::string name() const override { return "db_mtl"; }
  Mode mode() const override { return Mode::Parameters; }

 protected:
  std::vector<torch::Tensor> objectives(const Losses& losses, Context&) override {
    std::vector<torch::Tensor> o = losses.objectives();
    for (auto& l : o) l = torch::log(l + 1e-8);
    return o;
  }
  Combination combine(const torch::Tensor& G, const Losses&, Context&) override {
    torch::NoGradGuard g;
    if (average_.numel() == 0) average_.set_data(torch::zeros_like(G));
    steps_ += 1;
    const double b = beta_ / std::pow(static_cast<double>(steps_.item<std::int64_t>()), sigma_);
    average_.mul_(b).add_(G, 1 - b);
    torch::Tensor norms = average_.norm(2, 1);
    torch::Tensor alpha = norms.max() / (norms + 1e-8);
    show_weights(alpha);
    return Combination::of_direction(torch::matmul(alpha, average_));
  }

 private:
  double beta_, sigma_;
  torch::Tensor average_, steps_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"db_mtl", 190, "DB-MTL (Lin et al. 2023): log losses and gradients scaled to the largest norm",
                                  balancer<DbMtl>,
                                  {config::real("beta", 0.9, 0.0, 1.0, "Moving-average factor β of the task gradients"),
                                   config::real("beta_sigma", 0.0, 0.0, 10.0, "Decay σ of β with the step count, β / k^σ")}});

}  // namespace densemtl::balancing
