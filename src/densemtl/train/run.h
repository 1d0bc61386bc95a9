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

#include "densemtl/core/file_lock.h"
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

// Whether `name` is a file or folder a densemtl run writes (config.yaml as densemtl saves it,
// checkpoint.pt, best.pt, log.jsonl, run.json, metrics.json, predictions/, train.lock, or an
// atomic writer's temporary file): anything else in a run folder is a user's.
bool is_run_entry(const fs::path& entry);

// One training's hold on its run folder, for as long as it lives:
// - a folder holding anything a densemtl run does not write (a user's files, their commented
//   config.yaml) is refused, and so is a finished run whose checkpoint is gone (training again
//   would replace its results); `resume` is needed to continue a run with a checkpoint;
// - a lock (RUN/train.lock, released by the kernel when the process dies) refuses a second
//   training of the same folder at the same time, naming the one that holds it;
// - a training that fails before its first checkpoint in a folder it created removes that folder
//   (nothing half made is left).
// A refused folder is left exactly as it was.
class RunFolderClaim {
 public:
  RunFolderClaim() = default;
  RunFolderClaim(const fs::path& dir, bool resume);
  RunFolderClaim(RunFolderClaim&&) = default;
  RunFolderClaim& operator=(RunFolderClaim&&) = default;
  ~RunFolderClaim();
  bool has_checkpoint() const { return has_checkpoint_; }

 private:
  fs::path dir_;
  std::unique_ptr<FileLock> lock_;
  bool created_ = false, has_checkpoint_ = false;
};

// The run's final model: best.pt, or the last checkpoint's model when there is no best.pt,
// prepared for inference (batch norms folded, NHWC weights when the run trained that way) on
// `device`.
models::Architecture load_run_model(const Run& run, const data::DatasetInfo& info, const std::string& device = "cpu");

// The run's final model as load_run_model finds it, on the CPU, not prepared for inference (as
// trained, batch norms unfolded).
models::Architecture load_run_weights(const Run& run, const data::DatasetInfo& info);

// The images a run of `e` trains on and selects its model on: data.train_split, less the
// validation share carved off it (seeded) when data.val_split is empty, then at most
// data.max_train_images; and the validation images. A missing split is an error naming its key.
struct TrainingSplit {
  std::vector<std::string> train, val;
};
TrainingSplit training_split(const Experiment& e, const data::Dataset& dataset);

// The single-task runs in `dirs`, by task, checked against `e`: each a single-task run of a task
// of `e` with the same backbone, dilation, width, head, dataset and data root, no task twice, every
// task of `e` covered. A problem is a densemtl::Error that starts with `key` and names the folder.
std::map<std::string, Run> open_single_task_runs(const std::vector<std::string>& dirs, const Experiment& e, const std::string& key);

// Cross-stitch and NDDR-CNN start from single-task networks: copies the weights of the single-task
// runs the architecture's options name (model.<architecture>.single_task_runs) into it, one per
// task. A missing run, one of another architecture, backbone, width, head or dataset, a task the
// model lacks, a task given twice or a task without a run is a densemtl::Error naming the key and
// the folder. Nothing happens for architectures not built from single-task networks.
void init_from_single_task_runs(models::ArchitectureImpl& model, const Experiment& experiment, const data::DatasetInfo& info);

// Peak resident memory of this process in MB.
double peak_memory_mb();

}  // namespace densemtl::train
