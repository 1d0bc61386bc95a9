// The model interface every architecture implements. An architecture decides where tasks share;
// it returns one prediction per task (at the input resolution), optional auxiliary outputs for
// deep supervision (each supervised by a task's labels and loss), and the shared representation,
// so that task balancers can act on gradients of the shared parameters or of that representation.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "densemtl/models/backbones/backbone.h"
#include "densemtl/models/heads/head.h"

namespace densemtl::models {

struct AuxOutput {
  std::string name;      // e.g. "initial_semseg", "scale_2.depth"
  std::string task;      // the task whose labels and loss supervise it
  torch::Tensor value;   // at any resolution; the loss upsamples it to the labels
};

struct ModelOutput {
  std::map<std::string, torch::Tensor> tasks;  // main predictions, at the input size
  std::vector<AuxOutput> aux;                  // deep supervision
  Features shared;                             // the representation all tasks read
};

struct ModelSpec {
  std::string architecture;                    // single_task | baseline
  BackboneSpec backbone;
  HeadSpec head;
  std::vector<std::string> tasks;              // main tasks, canonical order
  std::vector<std::string> aux_tasks;          // auxiliary tasks, canonical order
  std::map<std::string, std::int64_t> outputs; // channels per task
};

class ArchitectureImpl : public torch::nn::Module {
 public:
  explicit ArchitectureImpl(ModelSpec spec) : spec_(std::move(spec)) {}
  ~ArchitectureImpl() override = default;
  virtual ModelOutput forward(const torch::Tensor& image) = 0;
  const ModelSpec& spec() const { return spec_; }
  // The component a parameter belongs to, for parameter counts: backbone, heads or other.
  virtual std::string component(const std::string& parameter_name) const;
  // Parameters every task's loss depends on (by default the backbone's).
  virtual std::vector<torch::Tensor> shared_parameters();

 protected:
  ModelSpec spec_;
};
using Architecture = std::shared_ptr<ArchitectureImpl>;

// Builds the architecture named by spec.architecture (see architectures/registry.cpp).
Architecture make_architecture(const ModelSpec& spec);
const std::vector<std::string>& architecture_names();

}  // namespace densemtl::models
