// Task balancing: how the per-task losses (and their gradients) combine into one update. The
// second axis of the survey, kept apart from architectures.
//
// A method is one file: a class deriving from Balancer that states what it needs (mode()) and
// computes its weights or its combined gradient, and one registration line
//
//   DENSEMTL_REGISTER(balancing::BalancerEntry, {"fixed", 10, "help", balancer<Fixed>, options...});
//
// with its own options (config keys balancer.<name>.<key>), declared in the file. The base class
// owns the plumbing, by mode:
//   Losses          the method returns an objective (usually Σ α_t L_t); one backward of it.
//   Parameters      per-task gradients on the shared parameters, a T x P matrix G.
//   Representation  per-task gradients on the shared representation z, a T x R matrix G (each
//                   task's heads read a detached leaf of z: one backward through the heads,
//                   then one backward of the combined gradient through the encoder).
// From G the method returns a Combination: task weights α (every parameter then gets the gradient
// of Σ α_t L_t: heads weighted too), or a direction d for the shared parameters or z (heads then
// get their own ordinary task gradients). Rows of G are in tasks() order (canonical).
// Multi-process training (core/collective.h): every process computes its terms as its share of
// the global batch's loss and sees the global values; the base class sums G over the processes
// (parameter mode) or gathers its columns (representation mode: each process holds its samples'
// part of z), so a method computes the same combination on every process, as one process would on
// the global batch; it needs nothing of its own for that.
// Hooks: after the optimizer step (with the losses of the same batch recomputed on request),
// after validation (the validation metrics), at the end of an epoch (the mean losses). Its own
// learnable parameters and persistent state live in state(): on the model's device, in the
// optimizer, in checkpoints.
//
// Partially labelled data: in a step where some tasks have no label on any image of the batch
// (Losses::labelled), the method runs on the labelled tasks alone, from backward() to the
// after-step hook: tasks() lists only them, the losses and G hold only their rows, and every
// per-task state tensor (task_buffer, task_parameter) shows only their slices — the unlabelled
// tasks' state is left exactly as it was, their heads get no gradient. A method written for T
// tasks thus needs nothing more, provided it keeps its per-task state in those tensors.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "densemtl/balancing/losses.h"
#include "densemtl/balancing/solvers.h"
#include "densemtl/core/config.h"
#include "densemtl/core/json.h"
#include "densemtl/core/registry.h"
#include "densemtl/models/architectures/architecture.h"

namespace densemtl::balancing {

enum class Mode { Losses, Parameters, Representation };
std::string mode_name(Mode mode);

// What a balancer sees of a training step.
struct Context {
  models::ArchitectureImpl& model;
  const models::ModelOutput& output;
  int epoch = 0;
  std::int64_t step = 0;
  // The losses of the same batch through the model as it is now, without gradients (for methods
  // that compare losses before and after a step or a perturbation).
  std::function<Losses()> recompute_losses;
  // The losses of the next validation batch through the model as it is now, with gradients (for
  // bilevel methods; set when the method's needs_validation_batches()).
  std::function<Losses()> validation_losses = {};
  // The optimizer's current learning rate.
  double learning_rate = 0;
  // Multi-process training: sums the model's gradients over the processes once the method has
  // written them, before after_backward() (so that clipping sees the global gradient). In
  // parameter mode the shared parameters are left alone: their direction came from the summed
  // gradient matrix already.
  std::function<void(Mode)> reduce_gradients = {};
};

// The result of a gradient-level method.
struct Combination {
  torch::Tensor weights;    // T: the update is the gradient of Σ α_t L_t
  torch::Tensor direction;  // D: the shared parameters' (or the representation's) gradient
  // (Both given: the heads get α-weighted gradients, the shared part the direction.)
  static Combination of_weights(torch::Tensor w) { return {std::move(w), {}}; }
  static Combination of_direction(torch::Tensor d) { return {{}, std::move(d)}; }
};

// What a method is built from.
struct Setup {
  std::vector<std::string> tasks;                 // the balanced tasks (main and auxiliary), canonical
  std::map<std::string, double> loss_weights;     // tasks.loss_weights (a missing task = 1)
  config::View options;                           // balancer.<name>.*
};

struct TaskGradients;  // per-task gradients of one step (balancer.cpp)

class Balancer {
 public:
  explicit Balancer(Setup setup);
  virtual ~Balancer() = default;
  virtual std::string name() const = 0;
  // What the method needs this run (it may depend on its options, e.g. balancer.<name>.mode).
  virtual Mode mode() const = 0;

  // Whether the method reads validation batches during training (bilevel methods).
  virtual bool needs_validation_batches() const { return false; }

  // A clear error when `model` cannot serve this method (representation mode on an architecture
  // whose tasks do not read a shared representation independently).
  void check(const models::ArchitectureImpl& model) const;

  // Combines `losses` and backpropagates, leaving gradients in .grad of every parameter (call
  // after the optimizer's zero_grad). Returns false, writing nothing, when no task is labelled
  // in the batch (the step must then be skipped).
  bool backward(const Losses& losses, Context& context);
  // After the optimizer step: the after-step hook, on the tasks of the last backward().
  void finish_step(Context& context);

  // Hooks; the defaults do nothing.
  // After the gradients are written, before the optimizer step (e.g. clipping the shared gradient).
  virtual void after_backward(Context& /*context*/) {}
  virtual void after_validation(const OrderedJson& /*metrics*/) {}
  virtual void end_epoch(const std::map<std::string, double>& /*mean_losses*/) {}
  // After load() restored state(): recompute what derives from it.
  virtual void loaded() {}

  // The current weight of every task, for logs.
  virtual std::map<std::string, double> weights() const { return last_weights_; }

  // The method's own learnable parameters (the optimizer updates them with the model's).
  std::vector<torch::Tensor> parameters() const { return state_->parameters(); }
  // Moves the method's state to `device` (the model's).
  void to(const torch::Device& device) { state_->to(device); }
  // Method state for checkpoints: every tensor of state(), by name, shapes checked on load.
  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive, const std::string& where);

  // The balanced tasks; inside a step where some are unlabelled, the labelled ones only.
  const std::vector<std::string>& tasks() const { return narrowed_ ? active_ : setup_.tasks; }

 protected:
  virtual void after_step(Context& /*context*/) {}
  // Per-task state, registered in state(): `value` holds one slice per task along `task_dims`
  // (one dimension, or {0, 1} for a task × task table). A tensor left empty at construction may be
  // sized on the first step (its slices then start at zero for tasks unlabelled in that step).
  torch::Tensor task_buffer(const std::string& name, torch::Tensor value, std::vector<std::int64_t> task_dims = {0});
  torch::Tensor task_parameter(const std::string& name, torch::Tensor value);
  // --- What a method implements, by mode ---
  // Losses mode: the objective to backpropagate once. Default: Σ α_t L_t with α = loss_weights().
  virtual torch::Tensor objective(const Losses& losses, Context& context);
  // Losses mode: this step's task weights α (T, tasks() order).
  virtual torch::Tensor loss_weights(const Losses& /*losses*/, Context& /*context*/) {
    throw std::logic_error(name() + ": loss_weights() not implemented");
  }
  // Parameter and representation modes: weights or a direction from the T x D matrix G.
  virtual Combination combine(const torch::Tensor& /*G*/, const Losses& /*losses*/, Context& /*context*/) {
    throw std::logic_error(name() + ": combine() not implemented");
  }
  // Parameter and representation modes: the per-task objectives whose gradients form G (default:
  // each task's terms summed; IMTL scales them by learned factors, DB-MTL takes their logarithm).
  // The method's own parameters get their ordinary gradients from these objectives.
  virtual std::vector<torch::Tensor> objectives(const Losses& losses, Context& /*context*/) { return losses.objectives(); }

  // One step of PyTorch's Adam (betas 0.9 / 0.999, eps 1e-8) on a small state vector `x` of the
  // method's own, with moments `m`, `v` and step count `steps` kept in state() buffers (one count,
  // or one per element: per-task state whose tasks may skip steps).
  static void adam_step(torch::Tensor& x, torch::Tensor& m, torch::Tensor& v, torch::Tensor& steps, const torch::Tensor& grad,
                        double lr);
  // Records the weights shown in logs (a T-vector in tasks() order).
  void show_weights(const torch::Tensor& weights);
  // The method's options (balancer.<name>.*).
  const config::View& options() const { return setup_.options; }
  const Setup& setup() const { return setup_; }
  // Where learnable parameters and persistent state are registered.
  torch::nn::Module& state() { return *state_; }

  // The one helper for both gradient matrices: row t is the gradient of objectives[t] with
  // respect to inputs(t), flattened and concatenated; the graph is kept.
  static torch::Tensor gradient_matrix(const std::vector<torch::Tensor>& objectives,
                                       const std::function<std::vector<torch::Tensor>(std::size_t)>& inputs);

 private:
  void backward_parameters(const Losses& losses, Context& context);
  void backward_representation(const Losses& losses, Context& context);
  // The combined representation gradient `direction`, back through the encoder once.
  void backward_direction(const std::vector<torch::Tensor>& shared, const torch::Tensor& direction) const;
  // The method's combination of G: the heads (each task's own parameters) get their part of it,
  // the direction for the shared parameters or the representation is returned.
  // Per task: its own parameters (head) and the method's parameters, which get ordinary gradients.
  std::vector<std::vector<torch::Tensor>> own_parameters(models::ArchitectureImpl& model, const Losses& losses) const;
  torch::Tensor combine_and_update_heads(const TaskGradients& g, const std::vector<std::vector<torch::Tensor>>& heads,
                                         const Losses& losses, Context& context);

  // Narrowing per-task state to the labelled tasks of a step, and back.
  struct TaskState {
    torch::Tensor tensor;
    std::vector<std::int64_t> dims;
    bool parameter = false;
    torch::Tensor full, full_grad;  // while narrowed
  };
  void run_backward(const Losses& losses, Context& context);
  void narrow(const std::vector<std::string>& labelled);
  void widen();
  Context narrowed_context(Context& context) const;

  Setup setup_;
  std::shared_ptr<torch::nn::Module> state_ = std::make_shared<torch::nn::Module>();
  std::vector<TaskState> task_state_;
  bool narrowed_ = false, skipped_ = false;
  std::vector<std::string> active_;          // the labelled tasks while narrowed
  std::vector<std::string> last_labelled_;   // the labelled tasks of the last backward() (empty: all)
  std::map<std::string, double> last_weights_;
};

// The registration record of a balancer.
struct BalancerEntry {
  std::string name;
  int order = 0;
  std::string help;
  std::function<std::unique_ptr<Balancer>(const Setup&)> make;
  // Its options (config keys balancer.<name>.<key>).
  std::vector<config::Spec> options = {};
  // Whether it reads tasks.loss_weights (otherwise setting them is an error: nothing would).
  bool uses_loss_weights = false;
  static const char* kind() { return "balancer"; }
};

template <typename Method>
std::unique_ptr<Balancer> balancer(const Setup& setup) {
  return std::make_unique<Method>(setup);
}

std::vector<std::string> balancer_names();
const BalancerEntry& balancer_entry(const std::string& name);
// balancer.<name> sections of every method that has options (for the experiment schema).
std::vector<config::Spec> balancer_option_sections();
// Builds the balancer `name` for `setup`.
std::unique_ptr<Balancer> make_balancer(const std::string& name, const Setup& setup);

// The option `mode` of methods that work on the shared parameters or on the shared representation
// (`params` | `rep`), and its value.
config::Spec mode_option(const std::string& default_mode);
Mode read_mode(const config::View& options);

// The Gram matrix G Gᵀ in double precision, for the solvers; a solver's vector back as a tensor.
solvers::Matrix gram_matrix(const torch::Tensor& G);
torch::Tensor to_tensor(const solvers::Vector& v, const torch::Tensor& like);

// Adds the flat gradient `flat` (the parameters' sizes concatenated) into .grad of `parameters`.
void add_gradient(const std::vector<torch::Tensor>& parameters, const torch::Tensor& flat);

}  // namespace densemtl::balancing
