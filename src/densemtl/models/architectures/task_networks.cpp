#include "densemtl/models/architectures/task_networks.h"

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"

namespace densemtl::models {

TaskNetworksImpl::TaskNetworksImpl(const ModelSpec& spec, std::string mixing_module)
    : ArchitectureImpl(spec), mixing_module_(std::move(mixing_module)) {
  auto backbones = register_module("backbone", torch::nn::ModuleDict());
  for (const auto& t : spec.tasks) {
    std::shared_ptr<BackboneImpl> b = make_backbone(spec.backbone);
    add_module(*backbones, t, b);
    // A task's backbone is mixed into every other task's features after the first mixing unit.
    declare("backbone." + t, b, Component::Backbone, ParameterGroup::of_task(t, /*exclusive=*/false));
    backbones_[t] = b;
  }
  heads_ = add_task_heads("heads", backbones_.begin()->second->out_channels());
}

void TaskNetworksImpl::declare_mixing(std::shared_ptr<torch::nn::Module> module) {
  register_module(mixing_module_, module);
  declare(mixing_module_, module, Component::Other, ParameterGroup::cross_task(), options().get_float("mixing_lr_factor"));
}

std::int64_t TaskNetworksImpl::channels(std::size_t stage) const { return backbones_.begin()->second->stage_channels(stage).at(0); }

double TaskNetworksImpl::alpha() const { return options().get_float("alpha"); }
double TaskNetworksImpl::beta() const { return options().get_float("beta"); }

ModelOutput TaskNetworksImpl::forward(const torch::Tensor& image) {
  std::map<std::string, torch::Tensor> x;
  for (const auto& t : spec_.tasks) x[t] = image;
  const std::size_t stages = backbones_.begin()->second->stage_names().size();
  for (std::size_t s = 0; s < stages; ++s) {
    for (const auto& t : spec_.tasks) x[t] = backbones_.at(t)->forward_stage(s, {x[t]}).at(0);
    x = mix(s, std::move(x));
  }
  ModelOutput out;
  std::map<std::string, Features> features;
  for (const auto& t : spec_.tasks) features[t] = {x[t]};
  out.representation = per_task(std::move(features));
  predict_tasks(out, heads_, image);
  return out;
}

std::vector<std::string> TaskNetworksImpl::single_task_runs() const { return options().get_string_list("single_task_runs"); }

std::vector<std::pair<std::string, std::string>> TaskNetworksImpl::single_task_prefixes(const std::string& task) const {
  // The single-task model's names: backbone.*, decoder.*.
  return {{"backbone.", "backbone." + task + "."}, {"decoder.", "heads." + task + "."}};
}

std::vector<config::Spec> TaskNetworksImpl::option_specs(const std::string& method, double alpha, double beta) {
  using namespace config;
  return {
      string_list("single_task_runs", {}, {}, 0,
                  "Run folders of single-task runs (architecture single_task, same backbone, width, head and dataset), one per "
                  "task: each task's backbone and head start from its run, as the " + method +
                      " paper builds the model; empty = from backbone.weights (or at random)"),
      real("alpha", alpha, -10.0, 10.0, "Initial weight of a task's own features in its mixing unit (NYUD 0.9, PASCAL 0.8 in the reference)"),
      real("beta", beta, -10.0, 10.0, "Initial weight of another task's features in a mixing unit (NYUD 0.1, PASCAL 0.05 in the reference)"),
      exclusive_min(real("mixing_lr_factor", 100.0, 0.0, 1e6,
                         "Learning rate of the mixing units as a multiple of the schedule's rate: 100 as the paper intends; the "
                         "reference code meant 100 but its scheduler reset every group to 1x each epoch, so 1 reproduces its runs")),
  };
}

std::string TaskNetworksImpl::accepts(const ModelSpec& spec) {
  if (spec.backbone.name.rfind("resnet", 0) != 0)
    return fmt::format("backbone.name: {} mixes the stages of per-task ResNets (resnet18, resnet50), got {}", spec.architecture,
                       spec.backbone.name);
  return several_tasks_no_auxiliary(spec, "mixes the features of two or more tasks");
}

}  // namespace densemtl::models
