// One training step, shared by the trainer and the benchmarks: the forward pass (under bf16
// autocast with `amp`), every loss term (each main task's loss in float32, each auxiliary
// output's loss upsampled to the input size), one read-back of the loss values (the NaN check and
// the progress line), the balancer's backward, the optimizer step and the balancer's after-step
// hook.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "densemtl/balancing/balancer.h"
#include "densemtl/models/architectures/architecture.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::train {

class GradientSync;

struct StepSetup {
  const tasks::TaskSet* tasks = nullptr;  // configured tasks (main and auxiliary)
  std::vector<std::string> main;          // main tasks, canonical
  bool amp = false;
  c10::Device device = c10::Device(c10::kCPU);
  // The next validation batch (image on the device, labels), for balancers that read them.
  std::function<std::pair<torch::Tensor, std::map<std::string, torch::Tensor>>()> validation_batch;
  // Multi-process training (core/collective.h): sums the gradients over the processes. Every loss
  // term is then the process's share of the global batch's loss, with the global value.
  GradientSync* sync = nullptr;
};

struct Forward {
  models::ModelOutput out;
  balancing::Losses losses;
};

// The forward pass and every loss term. With several processes (core/collective.h), each term
// is computed as this process's share of the global batch's loss (tasks/losses.h, GlobalBatch)
// and carries the global value (the sum of the shares; its gradient is the share's), and a task
// is unlabelled only when no image of any process's part of the batch is labelled for it. `labels` may live on the host (copied to the device
// asynchronously) or on the device. No value is read back to the host. Tasks in `unlabelled`
// have no label on any image of the batch (Batch::unlabelled): their terms are marked so.
Forward forward_losses(models::ArchitectureImpl& model, const torch::Tensor& image,
                       const std::map<std::string, torch::Tensor>& labels, const StepSetup& setup,
                       const std::set<std::string>& unlabelled = {});

// A loss term that is NaN or infinite: the step stops before any update.
class NonFiniteLoss : public std::runtime_error {
 public:
  NonFiniteLoss(std::string term, double value)
      : std::runtime_error("non-finite loss " + term), term(std::move(term)), value(value) {}
  std::string term;
  double value;
};

// Forward, losses, balancer backward, optimizer step, after-step hook. The model's
// representation-gradient mode is set from the balancer's mode. Returns the loss values of
// the step (before the update; per labelled task); throws NonFiniteLoss before any update. A
// batch labelled for none of the tasks changes nothing.
balancing::Losses::Values train_step(models::ArchitectureImpl& model, balancing::Balancer& balancer,
                                     torch::optim::Optimizer& optimizer, const torch::Tensor& image,
                                     const std::map<std::string, torch::Tensor>& labels, const StepSetup& setup,
                                     int epoch = 0, std::int64_t step = 0, const std::set<std::string>& unlabelled = {});

}  // namespace densemtl::train
