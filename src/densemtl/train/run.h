// A run folder:
//   config.yaml      the fully resolved config
//   checkpoint.pt    the last epoch: model, optimizer, epoch, RNG, best score, balancer (atomic)
//   best.pt          model weights of the best validation epoch (the final model)
//   log.jsonl        one JSON object per epoch
//   run.json         summary: model, parameters, FLOPs, training time, peak memory, metrics
//   metrics.json     the test split's metrics of the final model
//   predictions/<split>/<task>/<id>.(png|npy)
#pragma once

#include <torch/torch.h>

#include "densemtl/core/json.h"
#include "densemtl/data/dataset.h"
#include "densemtl/models/architectures/architecture.h"
#include "densemtl/train/experiment.h"

namespace densemtl::train {

struct Run {
  fs::path dir;
  Experiment experiment;
  Json summary;  // run.json (empty object when absent)

  fs::path config_file() const { return dir / "config.yaml"; }
  fs::path checkpoint() const { return dir / "checkpoint.pt"; }
  fs::path best() const { return dir / "best.pt"; }
  fs::path log() const { return dir / "log.jsonl"; }
  fs::path summary_file() const { return dir / "run.json"; }
  fs::path metrics_file() const { return dir / "metrics.json"; }
  fs::path predictions(const std::string& split) const { return dir / "predictions" / split; }
  std::string name() const;
};

// Opens an existing run folder (config.yaml must be there).
Run open_run(const fs::path& dir);

// The run's final model: best.pt, or the last checkpoint's model when there is no best.pt,
// prepared for inference (batch norms folded, NHWC weights when the run trained that way) on
// `device`.
models::Architecture load_run_model(const Run& run, const data::DatasetInfo& info, const std::string& device = "cpu");

// Peak resident memory of this process in MB.
double peak_memory_mb();

}  // namespace densemtl::train
