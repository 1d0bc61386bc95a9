// Uncertainty weighting. Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh
// Losses for Scene Geometry and Semantics", CVPR 2018.
//
// Each task has a learned log-variance s_t = log σ_t². The objective (the paper's Eq. 7 for a
// Gaussian likelihood, Eq. 10 for a softmax / Bernoulli one):
//   regression (depth, normals):          1/(2σ_t²) L_t + log σ_t = ½ e^{−s_t} L_t + ½ s_t
//   classification (semseg, parts, sal, edge): 1/σ_t² L_t + log σ_t = e^{−s_t} L_t + ½ s_t
// minimised jointly over the network and s. With factors: half, every task takes the regression
// form (LibMTL's UW). s starts at 0 (σ = 1).
#include "densemtl/balancing/balancer.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::balancing {

namespace {

class Uncertainty : public Balancer {
 public:
  explicit Uncertainty(const Setup& setup) : Balancer(setup) {
    log_variance_ = task_parameter("log_variance", torch::zeros({static_cast<std::int64_t>(tasks().size())}));
    paper_ = options().get_string("factors") == "paper";
  }
  std::string name() const override { return "uw"; }
  Mode mode() const override { return Mode::Losses; }

 protected:
  torch::Tensor objective(const Losses& losses, Context&) override {
    torch::Tensor precision = torch::exp(-log_variance_);
    std::vector<double> factors;
    for (const auto& t : tasks()) {
      tasks::LabelKind k = tasks::get(t).kind();
      bool regression = k == tasks::LabelKind::Depth || k == tasks::LabelKind::Normals;
      factors.push_back(paper_ && !regression ? 1.0 : 0.5);
    }
    torch::Tensor factor = torch::tensor(factors, precision.options());
    torch::Tensor weights = factor * precision;
    show_weights(weights);
    return losses.weighted_sum(weights) + 0.5 * log_variance_.sum();
  }

 private:
  torch::Tensor log_variance_;
  bool paper_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"uw", 20, "uncertainty weighting (Kendall et al. 2018): learned task variances", balancer<Uncertainty>,
                                  {config::choice("factors", "paper", {"paper", "half"},
                                                  "paper: 1/(2σ²) for regression, 1/σ² for classification tasks; half: 1/(2σ²) for all (LibMTL)")}});

}  // namespace densemtl::balancing
