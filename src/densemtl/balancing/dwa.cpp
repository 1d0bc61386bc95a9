// Dynamic weight average. Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention",
// CVPR 2019, Eq. 7.
//
// At epoch e (counting from 1), with the epoch mean losses L_t(·):
//   r_t = L_t(e−1) / L_t(e−2),   λ_t = T exp(r_t / τ) / Σ_i exp(r_i / τ),   τ = 2
// and λ_t = 1 for the first two epochs. The objective is Σ_t λ_t L_t. The two previous epochs'
// mean losses are checkpointed. With partially labelled data an epoch mean is over the batches
// labelled for the task; a task with none in an epoch keeps its two previous means, and a step
// weighs its labelled tasks alone (T their number), once each has two epochs of means.
#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class DynamicWeightAverage : public Balancer {
 public:
  explicit DynamicWeightAverage(const Setup& setup) : Balancer(setup), temperature_(options().get_float("temperature")) {
    const auto t = static_cast<std::int64_t>(tasks().size());
    history_ = task_buffer("history", torch::zeros({2, t}, torch::kFloat64), {1});  // rows: e−2, e−1
    epochs_ = task_buffer("epochs", torch::zeros({t}, torch::kLong));                // per task: epochs with a mean
    refresh();
  }
  std::string name() const override { return "dwa"; }
  Mode mode() const override { return Mode::Losses; }

  void end_epoch(const std::map<std::string, double>& mean_losses) override {
    torch::NoGradGuard g;
    for (std::size_t i = 0; i < tasks().size(); ++i) {
      auto it = mean_losses.find(tasks()[i]);
      if (it == mean_losses.end()) continue;  // no labelled batch this epoch
      const auto k = static_cast<std::int64_t>(i);
      history_[0][k].copy_(history_[1][k]);
      history_[1][k] = it->second;
      epochs_[k] += 1;
    }
    refresh();
  }

 protected:
  torch::Tensor objective(const Losses& losses, Context&) override {
    // A partially labelled step weighs its labelled tasks alone.
    std::vector<double> w = tasks().size() == setup().tasks.size() ? all_ : lambdas();
    show_weights(torch::tensor(w, torch::kFloat64));
    return losses.weighted_sum(w);
  }
  void loaded() override { refresh(); }

 private:
  // The weights of all tasks, recomputed only when the state they derive from changes.
  void refresh() {
    all_ = lambdas();
    show_weights(torch::tensor(all_, torch::kFloat64));
  }
  // λ of the balanced tasks: 1 until every one has two epochs of means.
  std::vector<double> lambdas() const {
    const std::size_t n = tasks().size();
    std::vector<double> out(n, 1.0);
    if (epochs_.min().item<std::int64_t>() >= 2) {
      torch::Tensor r = history_[1] / history_[0];
      torch::Tensor w = static_cast<double>(n) * torch::softmax(r / temperature_, 0);
      for (std::size_t i = 0; i < n; ++i) out[i] = w[static_cast<std::int64_t>(i)].item<double>();
    }
    return out;
  }

  double temperature_;
  torch::Tensor history_, epochs_;
  std::vector<double> all_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"dwa", 30, "dynamic weight average (Liu et al. 2019): weights from the epoch loss ratios",
                                  balancer<DynamicWeightAverage>,
                                  {exclusive_min(config::real("temperature", 2.0, 0.0, 1e6, "Softmax temperature τ (the paper: 2)"))}});

}  // namespace densemtl::balancing
