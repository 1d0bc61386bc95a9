// Dynamic task prioritisation. Guo et al., "Dynamic Task Prioritization for Multitask Learning",
// ECCV 2018 (the task-level priorities, Eq. 4).
//
// Each task's key performance indicator κ_t ∈ [0, 1] (its validation metric as a score, see
// Task::kpi: mIoU, maxF, odsF, the share of normals within 11.25°, depth δ < 1.25), smoothed
// κ̄_t ← α κ_t + (1 − α) κ̄_t (the first value as is) and clamped to [0.01, 0.99], sets the
// focal-style priority
//   w_t = −(1 − κ̄_t)^γ log κ̄_t
// and the objective Σ_t w_t L_t: tasks doing badly get more weight. Until the first validation
// every weight is 1. α = 0.1, γ = 1 ([unconfirmed]: the paper's values could not be read; these
// are a public reimplementation's). κ̄ is checkpointed.
#include <cmath>

#include "densemtl/balancing/balancer.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::balancing {

namespace {

class Dtp : public Balancer {
 public:
  explicit Dtp(const Setup& setup) : Balancer(setup), alpha_(options().get_float("smoothing")), gamma_(options().get_float("gamma")) {
    const auto t = static_cast<std::int64_t>(tasks().size());
    kpi_ = task_buffer("kpi", torch::full({t}, -1.0, torch::kFloat64));  // −1: not measured yet
    refresh();
  }
  std::string name() const override { return "dtp"; }
  Mode mode() const override { return Mode::Losses; }

  void after_validation(const OrderedJson& metrics) override {
    torch::Tensor kpi = kpi_.to(torch::kCPU).contiguous();  // the state lives on the model's device
    for (std::size_t t = 0; t < tasks().size(); ++t) {
      const std::string& task = tasks()[t];
      if (!metrics.contains(task)) continue;
      std::optional<double> k = tasks::get(task).kpi(metrics.at(task));
      if (!k) continue;
      double& smoothed = kpi.data_ptr<double>()[t];
      smoothed = smoothed < 0 ? *k : alpha_ * *k + (1 - alpha_) * smoothed;
    }
    kpi_.copy_(kpi);
    refresh();
  }
  void loaded() override { refresh(); }

 protected:
  torch::Tensor objective(const Losses& losses, Context&) override {
    // A partially labelled step weighs its labelled tasks alone.
    std::vector<double> w = tasks().size() == setup().tasks.size() ? all_ : priorities();
    show_weights(torch::tensor(w, torch::kFloat64));
    return losses.weighted_sum(w);
  }

 private:
  // The weights of all tasks, recomputed only when the state they derive from changes.
  void refresh() {
    all_ = priorities();
    show_weights(torch::tensor(all_, torch::kFloat64));
  }
  // The priorities of the balanced tasks (1 before a task's first validation).
  std::vector<double> priorities() const {
    std::vector<double> out(tasks().size(), 1.0);
    torch::Tensor kpi = kpi_.to(torch::kCPU).contiguous();
    for (std::size_t t = 0; t < tasks().size(); ++t) {
      double k = kpi.data_ptr<double>()[t];
      if (k < 0) continue;
      k = std::clamp(k, 0.01, 0.99);
      out[t] = -std::pow(1 - k, gamma_) * std::log(k);
    }
    return out;
  }

  double alpha_, gamma_;
  torch::Tensor kpi_;
  std::vector<double> all_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"dtp", 80, "DTP (Guo et al. 2018): focal-style priorities from each task's validation KPI", balancer<Dtp>,
                                  {config::real("smoothing", 0.1, 0.0, 1.0, "Weight α of a new KPI in its moving average [unconfirmed]"),
                                   config::real("gamma", 1.0, 0.0, 100.0, "Focusing exponent γ of the priorities [unconfirmed]")}});

}  // namespace densemtl::balancing
