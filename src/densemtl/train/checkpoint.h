// Saving and loading what a run needs to continue and to be used: the checkpoint (model,
// optimizer, balancer state, RNG, the loop's state; written atomically after every epoch) and
// model weights (best.pt). Every tensor is read back by name with its shape checked (LibTorch's
// own Module::load silently reshapes on a mismatch).
#pragma once

#include <torch/torch.h>

#include <string>

#include "densemtl/balancing/balancer.h"
#include "densemtl/core/fs.h"
#include "densemtl/core/json.h"
#include "densemtl/models/architectures/architecture.h"

namespace densemtl::train {

// The training loop's state carried across epochs and resumes (besides model, optimizer,
// balancer and RNG).
struct LoopState {
  int epoch = 0;                 // epochs done
  double best_score = -1e300;
  int best_epoch = 0;
  double train_seconds = 0;
  std::int64_t step = 0;
  OrderedJson reference;         // first validation: {"metrics": ..., "losses": ...}
  OrderedJson best_val;          // validation metrics of the best epoch
  Json to_json() const;
  static LoopState from_json(const Json& j);
};

// Atomically (temporary file, fsync, rename).
void save_checkpoint(const fs::path& file, models::ArchitectureImpl& model, torch::optim::Optimizer& optimizer,
                     const balancing::Balancer& balancer, const LoopState& state);
// Restores model, optimizer, balancer and the CPU RNG; an unreadable or mismatching file is an
// error naming it.
LoopState load_checkpoint(const fs::path& file, models::ArchitectureImpl& model, torch::optim::Optimizer& optimizer,
                          balancing::Balancer& balancer);

// Model tensors (parameters and buffers) under "<prefix><name>" in an archive, and back with
// every name and shape checked. read_model throws densemtl::Error naming `where` and the first
// missing or mis-shaped tensor.
void write_model(torch::serialize::OutputArchive& archive, torch::nn::Module& model, const std::string& prefix = "model.");
void read_model(torch::serialize::InputArchive& archive, torch::nn::Module& model, const std::string& where,
                const std::string& prefix = "model.");
// Model weights written atomically / read back (best.pt; a checkpoint's model also reads).
void save_weights(models::ArchitectureImpl& model, const fs::path& file);
void load_weights(models::ArchitectureImpl& model, const fs::path& file);
// Whether `file` is a densemtl weights archive (a run's best.pt or checkpoint.pt), which the
// torch.save readers of models/torch_file.h do not read.
bool is_weights_archive(const fs::path& file);

}  // namespace densemtl::train
