// The model interface every architecture implements. An architecture decides where tasks share:
// it returns one prediction per task (at the input resolution), auxiliary outputs for deep
// supervision (each supervised by a task's labels and loss, kept as their own loss terms), and
// the representation the tasks read, so that task balancers can act on gradients of the shared
// parameters or of that representation.
//
// An architecture is one file: a class deriving from ArchitectureImpl that builds its modules,
// declares what each is (declare(): backbone, head or other; shared, one task's, or cross-task),
// and ends with one registration line
//
//   DENSEMTL_REGISTER(models::ArchitectureEntry, {"baseline", 20, "help", architecture<BaselineImpl>});
//
// with, where it has them, its own options (config keys model.<name>.<key>) and a check of the
// task sets and backbones it accepts. Parameter counts, backbone weight loading, the parameter
// sets balancers work on and the report all derive from the declaration.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "densemtl/core/config.h"
#include "densemtl/core/registry.h"
#include "densemtl/models/backbones/backbone.h"
#include "densemtl/models/heads/head.h"

namespace densemtl::models {

struct AuxOutput {
  std::string name;      // e.g. "initial_semseg", "scale_2.depth"
  std::string task;      // the task whose labels and loss supervise it
  torch::Tensor value;   // at any resolution; the loss upsamples it to the labels
};

// What the tasks read. Either one set of features every task reads (`shared`: hard sharing,
// MTAN's trunk) or one set per task (`per_task`: cross-stitch, NDDR-CNN). With representation
// gradients on (a balancer in representation mode), every task reads its own detached leaf of the
// shared features (`leaves`), so that one backward through the heads gives each task's gradient
// on the representation, and one backward of the combined gradient goes through the encoder.
struct Representation {
  Features shared;
  std::map<std::string, Features> per_task;
  std::map<std::string, Features> leaves;
  // The features task `task` reads.
  const Features& for_task(const std::string& task) const;
  bool is_shared() const { return !shared.empty(); }
};

struct ModelOutput {
  std::map<std::string, torch::Tensor> tasks;  // main predictions, at the input size
  std::vector<AuxOutput> aux;                  // deep supervision
  Representation representation;
  // Terms the architecture adds to the training objective as they are, outside task balancing
  // (DSelect-k's selector regularisers): (name, scalar). Empty for most architectures.
  std::vector<std::pair<std::string, torch::Tensor>> regularizers;
  // Intermediate features an architecture exposes by the name its reference implementation
  // returns them under (MTI-Net's refined features of each scale,
  // `deep_supervision.scale_<s>.features_<task>`): not loss terms; for inspection and parity.
  std::vector<std::pair<std::string, torch::Tensor>> features;
};

struct ModelSpec {
  std::string architecture;                    // a registered architecture
  BackboneSpec backbone;
  HeadSpec head;
  std::vector<std::string> tasks;              // main tasks, canonical order
  std::vector<std::string> aux_tasks;          // auxiliary tasks, canonical order
  std::map<std::string, std::int64_t> outputs; // channels per task (main and auxiliary)
  // The experiment config, whose model.<architecture> section holds the architecture's own
  // options; null = the options' defaults.
  std::shared_ptr<const config::Config> config;
};

// How a parameter is shared. `Task` parameters belong to one task; `exclusive` ones are reached
// by that task's losses only (its head), non-exclusive ones also by other tasks' losses (a
// task's backbone in cross-stitch or NDDR-CNN, mixed into the other tasks' features).
// `CrossTask` parameters exist to combine tasks (cross-stitch units, distillation modules).
enum class Sharing { Shared, Task, CrossTask };
enum class Component { Backbone, Head, Other };

struct ParameterGroup {
  Sharing sharing = Sharing::Shared;
  std::string task;        // for Sharing::Task
  bool exclusive = true;   // for Sharing::Task
  static ParameterGroup shared() { return {Sharing::Shared, "", false}; }
  static ParameterGroup of_task(const std::string& t, bool exclusive = true) { return {Sharing::Task, t, exclusive}; }
  static ParameterGroup cross_task() { return {Sharing::CrossTask, "", false}; }
  std::string name() const;  // "shared", "task:semseg", "cross_task"
};

class ArchitectureImpl : public torch::nn::Module {
 public:
  explicit ArchitectureImpl(ModelSpec spec);
  ~ArchitectureImpl() override = default;
  virtual ModelOutput forward(const torch::Tensor& image) = 0;
  const ModelSpec& spec() const { return spec_; }

  // --- The declared structure ---
  struct Part {
    std::string path;  // module path, e.g. "backbone", "decoders.semseg"
    std::shared_ptr<torch::nn::Module> module;
    Component component;
    ParameterGroup group;
    double lr_factor = 1.0;  // its learning rate is lr_factor x the schedule's rate
  };
  const std::vector<Part>& parts() const { return parts_; }
  // Every parameter with its part, in named_parameters() order. Throws when a parameter belongs
  // to no declared part or to two (a bug in the architecture's declaration).
  std::vector<std::pair<std::string, const Part*>> parameter_parts();
  // Parameters more than one task's losses reach (shared, cross-task and non-exclusive task
  // parameters): what gradient-level balancers combine.
  std::vector<torch::Tensor> shared_parameters();
  // Parameters only `task`'s losses reach (its head).
  std::vector<torch::Tensor> task_parameters(const std::string& task);
  // The backbones, each with its module path (ImageNet or single-task weights load into each).
  std::vector<std::pair<std::string, std::shared_ptr<BackboneImpl>>> backbones() const;
  // The parameters by learning-rate factor (the optimizer's parameter groups), factor 1 first.
  std::vector<std::pair<double, std::vector<torch::Tensor>>> parameters_by_lr_factor();

  // The tree a tree-searching architecture has learned (Learning to Branch), as model.branched.tree
  // entries ("semseg: 0 0 1 1"); empty for the others.
  virtual std::vector<std::string> learned_tree() const { return {}; }

  // Called by the trainer before each training epoch (from 0) of `epochs`, for architectures whose
  // training follows the schedule (Learning to Branch anneals its Gumbel-softmax temperature).
  virtual void set_epoch(int /*epoch*/, int /*epochs*/) {}

  // --- Initialisation from single-task runs (cross-stitch, NDDR-CNN) ---
  // The run folders the architecture's options name; empty for architectures not built from
  // single-task networks.
  virtual std::vector<std::string> single_task_runs() const { return {}; }
  // Where the single-task network of `task` goes: pairs (its module prefix, this model's prefix),
  // e.g. ("backbone.", "backbone.depth."), ("decoder.", "heads.depth.").
  virtual std::vector<std::pair<std::string, std::string>> single_task_prefixes(const std::string& /*task*/) const { return {}; }

  // --- Representation gradients (balancers in representation mode) ---
  // Whether each task reads the shared representation independently of the others above it, so
  // that per-task gradients on it can be taken with detached leaves. False for architectures whose
  // tasks exchange information above the representation (distillation), or that have no shared
  // representation (per-task encoders).
  virtual bool separable_representation() const { return true; }
  void set_representation_gradients(bool on) { representation_gradients_ = on; }
  bool representation_gradients() const { return representation_gradients_; }

 protected:
  // Records what a registered module is; `path` is its name under this module (nested names
  // with dots).
  void declare(const std::string& path, std::shared_ptr<torch::nn::Module> module, Component component, ParameterGroup group,
               double lr_factor = 1.0);
  // The representation from features every task reads (hard sharing): with representation
  // gradients on, each task of spec().tasks gets its own detached leaf.
  Representation share(Features features) const;
  // The representation when each task has its own features.
  static Representation per_task(std::map<std::string, Features> features);
  // The architecture's own options (model.<name>.*; the defaults without a config).
  config::View options() const;

  // One head per task, registered as the ModuleDict `name` (names <name>.<task>.*) and declared
  // as that task's own, reading features of `channels`; by task.
  std::map<std::string, std::shared_ptr<HeadImpl>> add_task_heads(const std::string& name, const std::vector<std::int64_t>& channels);
  // out.tasks: each task's head on the features it reads (out.representation), upsampled to the image.
  void predict_tasks(ModelOutput& out, const std::map<std::string, std::shared_ptr<HeadImpl>>& heads, const torch::Tensor& image) const;
  // A copy of the backbone keeping its stages [first, end) only (a tree's block, an expert),
  // registered as into[key] and declared at `path` as a backbone part of `group`.
  std::shared_ptr<BackboneImpl> add_backbone_part(torch::nn::ModuleDictImpl& into, const std::string& key, const std::string& path,
                                                  std::size_t first, std::size_t end, ParameterGroup group);

  ModelSpec spec_;

 private:
  std::vector<Part> parts_;
  bool representation_gradients_ = false;
};
using Architecture = std::shared_ptr<ArchitectureImpl>;

// The registration record of an architecture.
struct ArchitectureEntry {
  enum class Role { SingleTask, MultiTask };
  std::string name;
  int order = 0;
  std::string help;
  std::function<Architecture(const ModelSpec&)> make;
  Role role = Role::MultiTask;
  // Its options (config keys model.<name>.<key>).
  std::vector<config::Spec> options = {};
  // The task sets, auxiliary tasks and backbones it accepts: "" when it does, else the reason, as
  // "key: what is wrong" (e.g. "tasks.main: single_task predicts exactly one task, got 2").
  std::function<std::string(const ModelSpec&)> accepts = nullptr;
  // The name in tables ("multi-task baseline"); the name itself when empty.
  std::string label = "";
  static const char* kind() { return "architecture"; }
};

template <typename Impl>
Architecture architecture(const ModelSpec& spec) {
  return std::make_shared<Impl>(spec);
}

// dict[key] = module (ModuleDict's update() takes a list of pairs).
inline void add_module(torch::nn::ModuleDictImpl& dict, const std::string& key, std::shared_ptr<torch::nn::Module> module) {
  dict.update(std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>>{{key, std::move(module)}});
}

// The reason an architecture without auxiliary outputs gives for a non-empty tasks.aux.
std::string no_auxiliary_tasks(const ModelSpec& spec);
// The reason a multi-task architecture without auxiliary outputs gives for fewer than two tasks
// ("tasks.main: <architecture> <why>, got ...") or for auxiliary tasks; "" when it accepts them.
std::string several_tasks_no_auxiliary(const ModelSpec& spec, const std::string& why);

// Builds the architecture named by spec.architecture, after its accepts() check (a failed check
// is a densemtl::Error naming the key), and checks its declaration.
Architecture make_architecture(const ModelSpec& spec);
std::vector<std::string> architecture_names();
const ArchitectureEntry& architecture_entry(const std::string& name);
// model.<name> sections of every architecture that has options (for the experiment schema).
std::vector<config::Spec> architecture_option_sections();

}  // namespace densemtl::models
