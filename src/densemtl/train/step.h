// The forward half of a training step, shared by the trainer and the benchmarks: the forward
// pass (under bf16 autocast with `amp`), each main task's loss in float32, and each auxiliary
// output (PAD-Net-style intermediate predictions) upsampled to the input size and added to its
// task's loss. No value is read back to the host.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "densemtl/models/architectures/architecture.h"
#include "densemtl/tasks/task.h"

namespace densemtl::train {

struct StepLosses {
  models::ModelOutput out;
  std::map<std::string, torch::Tensor> losses;  // per task
};

// `labels` may live on the host (they are copied to the device asynchronously) or on the device.
StepLosses forward_losses(models::ArchitectureImpl& model, const torch::Tensor& image,
                          const std::map<std::string, torch::Tensor>& labels, const std::vector<std::string>& main_tasks,
                          const tasks::Task::LossOptions& options, bool amp, const c10::Device& device);

}  // namespace densemtl::train
