// Task balancing: how the per-task losses (and their gradients) combine into one update. The
// second axis of the survey, kept apart from architectures: the trainer hands a balancer the
// losses and access to the shared parameters and the shared representation, the balancer leaves
// the combined gradients in the parameters' .grad.
//
// The base class owns the plumbing gradient-level methods need (MGDA, PCGrad, CAGrad, IMTL,
// Nash-MTL, Aligned-MTL, GradNorm, ...): per-task gradients on the shared parameters as a T x P
// matrix, per-task gradients on the shared representation, and writing a combined gradient back.
// A method then only computes its weights or its combined gradient. Loss-level methods (DWA,
// uncertainty weighting) get the epoch's mean losses and may own learnable parameters.
// One method per file (fixed.cpp, ...), registered in registry.cpp.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "densemtl/core/config.h"
#include "densemtl/models/architectures/architecture.h"

namespace densemtl::balancing {

struct Context {
  models::ArchitectureImpl& model;
  models::ModelOutput& output;  // output.shared: the representation every task reads
  int epoch = 0;
  std::int64_t step = 0;
};

class Balancer {
 public:
  virtual ~Balancer() = default;
  virtual std::string name() const = 0;
  // Combines `losses` (one scalar per task, canonical order of the keys) and backpropagates,
  // leaving gradients in .grad of every parameter. Returns the loss value that was minimised
  // (for logging).
  virtual torch::Tensor backward(const std::map<std::string, torch::Tensor>& losses, Context& context) = 0;
  // The current weight of every task (for logs).
  virtual std::map<std::string, double> weights() const = 0;
  // Learnable parameters of the method itself (the optimizer updates them with the model's).
  virtual std::vector<torch::Tensor> parameters() { return {}; }
  // Called after every epoch with the epoch's mean task losses (for history-based methods).
  virtual void end_epoch(const std::map<std::string, double>& /*mean_losses*/) {}
  // Method state for checkpoints.
  virtual void save(torch::serialize::OutputArchive& /*archive*/) const {}
  virtual void load(torch::serialize::InputArchive& /*archive*/) {}

 protected:
  // Per-task gradients of `losses` with respect to `parameters`, flattened: a T x P matrix
  // (rows in the order of `losses`). The graph is kept for a later backward.
  static torch::Tensor task_gradients(const std::map<std::string, torch::Tensor>& losses,
                                      const std::vector<torch::Tensor>& parameters);
  // Per-task gradients with respect to the shared representation (each of its maps flattened
  // and concatenated): T x R.
  static torch::Tensor representation_gradients(const std::map<std::string, torch::Tensor>& losses,
                                                const models::Features& representation);
  // Adds the flat gradient `flat` (length P) into .grad of `parameters`.
  static void add_gradient(const std::vector<torch::Tensor>& parameters, const torch::Tensor& flat);
};

struct Options {
  std::string name = "fixed";
  std::vector<std::string> tasks;
  std::map<std::string, double> weights;  // fixed weights (missing task = 1)
};

Options options_from_config(const config::Config& cfg);
std::unique_ptr<Balancer> make_balancer(const Options& options);
const std::vector<std::string>& balancer_names();

}  // namespace densemtl::balancing
