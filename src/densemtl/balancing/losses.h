// The loss terms of one training step, in canonical order: the main tasks in the task registry's
// order, then the auxiliary (deep-supervision) terms in the order the architecture returned them.
// Balancers see every term on its own; a task's objective is the sum of its terms.
// Partially labelled data: a task none of the batch's images is labelled for is unlabelled in the
// step; its terms are exact zeros (no pixel supervised), and balancers skip it (Balancer::backward).
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace densemtl::balancing {

struct LossTerm {
  std::string task;        // the task whose labels and loss it uses
  std::string name;        // the task's name for a main term; the auxiliary output's name otherwise
  bool auxiliary = false;
  torch::Tensor value;     // a float32 scalar in the graph
};

class Losses {
 public:
  // Main terms must come in canonical order and before any auxiliary term.
  void add_main(const std::string& task, torch::Tensor value);
  void add_auxiliary(const std::string& name, const std::string& task, torch::Tensor value);

  const std::vector<LossTerm>& terms() const { return terms_; }
  // Every task with at least one term (main or auxiliary), canonical order: the tasks a balancer
  // balances.
  const std::vector<std::string>& tasks() const { return tasks_; }
  // The main term of `task` (undefined when it has none).
  torch::Tensor main(const std::string& task) const;
  // Each task's objective, the sum of its terms, in tasks() order.
  std::vector<torch::Tensor> objectives() const;
  // Σ_t weights[t] · objective_t, each term scaled by its task's weight (tasks() order), summed
  // term by term in canonical order. Constant weights as numbers, learned or computed ones as a
  // T-vector tensor (cast to the losses' dtype).
  torch::Tensor weighted_sum(const std::vector<double>& weights) const;
  torch::Tensor weighted_sum(const torch::Tensor& weights) const;
  // Marks `task` as having no label on any image of the batch (its terms stay, as zeros).
  void set_unlabelled(const std::string& task);
  bool labelled(const std::string& task) const;
  // The tasks with a label on at least one image of the batch, in tasks() order.
  std::vector<std::string> labelled_tasks() const;
  // The terms of `subset` only (tasks in canonical order; their labelled flags kept).
  Losses restricted(const std::vector<std::string>& subset) const;
  // The position of `task` in tasks().
  std::size_t index(const std::string& task) const;
  // The values read back to the host in one transfer: per labelled task (sum of its terms) and per
  // term.
  struct Values {
    std::map<std::string, double> per_task;
    std::vector<double> per_term;
  };
  Values values() const;

 private:
  std::vector<LossTerm> terms_;
  std::vector<std::string> tasks_;
  std::vector<std::string> unlabelled_;
};

}  // namespace densemtl::balancing
