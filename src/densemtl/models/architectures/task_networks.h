// The plumbing of soft parameter sharing (cross-stitch, NDDR-CNN): one dilated ResNet and one head
// per task, as the survey's code builds them from the single-task networks, run stage by stage
// side by side with a mixing module after some stages. A method file says only where it mixes and
// how (mix()); building the networks, names, options, the initialisation from single-task runs
// and the learning rate of the mixing units live here.
//
// Names (the reference's state dict): backbone.<task>.*, heads.<task>.*, then the method's own
// modules. Options shared by both methods (model.<architecture>.*): single_task_runs, alpha, beta,
// mixing_lr_factor.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "densemtl/models/architectures/architecture.h"

namespace densemtl::models {

class TaskNetworksImpl : public ArchitectureImpl {
 public:
  // `mixing_module` is the method's module name ("cross_stitch", "nddr").
  TaskNetworksImpl(const ModelSpec& spec, std::string mixing_module);

  ModelOutput forward(const torch::Tensor& image) override;

  // Every task reads its own features: no shared representation to take task gradients on.
  bool separable_representation() const override { return false; }
  std::vector<std::string> single_task_runs() const override;
  std::vector<std::pair<std::string, std::string>> single_task_prefixes(const std::string& task) const override;

  // The options both methods have.
  static std::vector<config::Spec> option_specs(const std::string& method, double alpha, double beta);
  // Cross-stitch and NDDR-CNN run on the dilated ResNets with two or more tasks.
  static std::string accepts(const ModelSpec& spec);

 protected:
  // After backbone stage `stage` (0 = the stem, 1..4 = layer1..layer4) of every task, the method
  // mixes the tasks' features (keyed by task); after a stage it does not mix it returns them as they are.
  virtual std::map<std::string, torch::Tensor> mix(std::size_t stage, std::map<std::string, torch::Tensor> features) = 0;
  // Registers and declares the method's mixing module (cross-task, at mixing_lr_factor x the rate).
  void declare_mixing(std::shared_ptr<torch::nn::Module> module);
  // The channels after backbone stage `stage`.
  std::int64_t channels(std::size_t stage) const;
  // Initial self and cross weights of the mixing units (alpha, beta).
  double alpha() const;
  double beta() const;

 private:
  std::string mixing_module_;
  std::map<std::string, std::shared_ptr<BackboneImpl>> backbones_;
  std::map<std::string, std::shared_ptr<HeadImpl>> heads_;
};

}  // namespace densemtl::models
