// Dynamic weight average. Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention",
// CVPR 2019, Eq. 7.
//
// At epoch e (counting from 1), with the epoch mean losses L_t(·):
//   r_t = L_t(e−1) / L_t(e−2),   λ_t = T exp(r_t / τ) / Σ_i exp(r_i / τ),   τ = 2
// and λ_t = 1 for the first two epochs. The objective is Σ_t λ_t L_t. The two previous epochs'
// mean losses are checkpointed.
#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class DynamicWeightAverage : public Balancer {
 public:
  explicit DynamicWeightAverage(const Setup& setup) : Balancer(setup), temperature_(options().get_float("temperature")) {
    const auto t = static_cast<std::int64_t>(tasks().size());
    history_ = state().register_buffer("history", torch::zeros({2, t}, torch::kFloat64));  // rows: e−2, e−1
    epochs_ = state().register_buffer("epochs", torch::zeros({}, torch::kLong));
    update();
  }
  std::string name() const override { return "dwa"; }
  Mode mode() const override { return Mode::Losses; }

  void end_epoch(const std::map<std::string, double>& mean_losses) override {
    torch::NoGradGuard g;
    history_[0].copy_(history_[1]);
    for (std::size_t i = 0; i < tasks().size(); ++i)
      history_[1][static_cast<std::int64_t>(i)] = mean_losses.count(tasks()[i]) ? mean_losses.at(tasks()[i]) : 1.0;
    epochs_ += 1;
    update();
  }

 protected:
  torch::Tensor objective(const Losses& losses, Context&) override { return losses.weighted_sum(weights_); }
  void loaded() override { update(); }

 private:
  void update() {
    const std::size_t n = tasks().size();
    weights_.assign(n, 1.0);
    if (epochs_.item<std::int64_t>() >= 2) {
      torch::Tensor r = history_[1] / history_[0];
      torch::Tensor w = static_cast<double>(n) * torch::softmax(r / temperature_, 0);
      for (std::size_t i = 0; i < n; ++i) weights_[i] = w[static_cast<std::int64_t>(i)].item<double>();
    }
    show_weights(torch::tensor(weights_, torch::kFloat64));
  }

  double temperature_;
  torch::Tensor history_, epochs_;
  std::vector<double> weights_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"dwa", 30, "dynamic weight average (Liu et al. 2019): weights from the epoch loss ratios",
                                  balancer<DynamicWeightAverage>,
                                  {exclusive_min(config::real("temperature", 2.0, 0.0, 1e6, "Softmax temperature τ (the paper: 2)"))}});

}  // namespace densemtl::balancing
