// `densemtl train`: the training loop, as parts that a grid runner or multi-process training can
// reuse: set-up (Training's constructor), one epoch of train_step (train/step.h), validation with
// model selection, the checkpoint (train/checkpoint.h), and the end (the final model scored once
// on the test split, run.json). Knows nothing about particular tasks, architectures or
// balancers: it asks the model for outputs, the task set for losses, the balancer for the update,
// and the evaluator for metrics.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "densemtl/balancing/balancer.h"
#include "densemtl/core/fs.h"
#include "densemtl/core/json.h"
#include "densemtl/data/loader.h"
#include "densemtl/eval/evaluator.h"
#include "densemtl/train/checkpoint.h"
#include "densemtl/train/experiment.h"
#include "densemtl/train/optim.h"
#include "densemtl/train/run.h"
#include "densemtl/train/step.h"

namespace densemtl::dist {
class ProcessGroup;
}

namespace densemtl::train {

class GradientSync;

struct TrainOptions {
  fs::path config;
  std::vector<std::string> overrides;  // --set a.b=value
  fs::path out;                        // run folder; default runs/<name>
  bool resume = false;
  bool evaluate_test = true;           // score the test split once at the end
  int stop_after = 0;                  // > 0: train at most this many epochs now, then stop (resume later)
};

struct TrainResult {
  fs::path run_dir;
  OrderedJson test_metrics;
  int epochs_done = 0;
  bool finished = false;               // all epochs done and the final model scored
  bool leader = true;                  // the one process, or rank 0 of several (the one that reports)
};

// The model selection score: the mean relative improvement of the main tasks' Delta_m metrics
// over `reference` (the first validation), eval::delta_m's definition; a task without its metric
// (or with a zero reference) uses its validation loss instead.
double selection_score(const eval::EvalResult& result, const OrderedJson& reference, const std::vector<std::string>& main_tasks);

class Training {
 public:
  // Set-up: the config (validated), the run folder (refusing to overwrite or to resume with
  // another config), data, model, balancer, optimizer, and the checkpoint when resuming.
  explicit Training(const TrainOptions& options);
  ~Training();
  Training(const Training&) = delete;
  Training& operator=(const Training&) = delete;

  // Trains one epoch (every batch through train_step), then validates when due, keeps the best
  // model and writes the checkpoint and the log line. Returns false when all epochs are done.
  bool run_epoch();
  // Validation of the current model on the validation split (model selection data).
  eval::EvalResult validate();
  // Loads the final model (the best validation epoch), scores the test split once and writes
  // run.json.
  TrainResult finish();

  int epochs_done() const { return state_.epoch; }
  // Several processes (densemtl launch, torchrun, Slurm): this one's rank and their number. Rank
  // 0 writes the run folder; every rank trains on its part of each batch and scores its share of
  // the evaluation images.
  int rank() const;
  int processes() const;
  // Several processes: tells the others why this one stops (their errors name it).
  void report_failure(const std::string& message) noexcept;
  int epochs() const { return experiment_.train.epochs; }
  const Run& run() const { return run_; }
  models::ArchitectureImpl& model() { return *model_; }
  balancing::Balancer& balancer() { return *balancer_; }

 private:
  // Everything after joining the process group (a failure is reported to the other processes).
  // Set-up, in order: the run folder, threads and device, data, model, processes, validation.
  void set_up(const TrainOptions& options);
  bool prepare_run_folder(const TrainOptions& options);
  void use_threads_and_device();
  data::LoaderOptions set_up_data(const TrainOptions& options);
  void set_up_model(bool has_checkpoint);
  void set_up_processes();
  void set_up_validation_batches(const data::PipelineOptions& pipeline, const data::LoaderOptions& loader);
  void require_supervision(const std::set<std::string>& supervised, int epoch);
  // Writes to the run folder (the one process, or rank 0).
  bool leader() const { return rank() == 0; }
  // Waits for every process (several processes only).
  void barrier();

  TrainOptions options_;
  std::unique_ptr<dist::ProcessGroup> group_;  // before everything that uses it, destroyed last
  std::unique_ptr<GradientSync> sync_;
  Experiment experiment_;
  Run run_;
  RunFolderClaim claim_;  // the leader's hold on the run folder
  std::string name_;
  torch::Device device_ = torch::Device(torch::kCPU);
  std::unique_ptr<data::Dataset> dataset_;
  tasks::TaskSet tasks_;
  std::vector<std::string> train_ids_, val_ids_, test_ids_;
  std::unique_ptr<data::Loader> loader_;
  std::unique_ptr<data::Loader> val_loader_;  // validation batches for bilevel balancers
  int val_pass_ = 0;
  int batch_size_ = 8;
  models::Architecture model_;
  std::unique_ptr<balancing::Balancer> balancer_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<double> lr_factors_;  // per parameter group
  Schedule schedule_;
  StepSetup step_;
  eval::EvalSetup val_setup_;
  LoopState state_;
};

// The whole loop: set-up, epochs (at most options.stop_after now), finish.
TrainResult train(const TrainOptions& options);

}  // namespace densemtl::train
