// Evaluation (the survey's code's protocol): predictions at the network size are turned into
// the stored prediction
// format at each image's original size and scored against the raw ground truth. The same path
// scores a model (optionally writing its prediction folder) or any prediction folder on disk, so
// both give the same numbers.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "densemtl/core/json.h"
#include "densemtl/data/dataset.h"
#include "densemtl/data/pipeline.h"
#include "densemtl/models/architectures/architecture.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::eval {

struct EvalSetup {
  std::vector<std::string> ids;
  tasks::TaskSet tasks;                 // the tasks scored, configured (losses, metric options)
  data::PipelineOptions pipeline;
  int batch_size = 8;
  int workers = 2;
  int threads = 0;                      // for the metrics (boundary matching); 0 = all cores
  std::optional<fs::path> predictions;  // write the prediction folder here
  std::string device = "cpu";
  bool channels_last = false;           // feed NHWC inputs (the model's weights are NHWC)
  std::string label = "eval";           // progress bar label
  // Several processes (core/collective.h): each scores every n-th batch, and the metric
  // accumulators and loss sums are pooled, so every process gets the one-process result.
  bool shard_over_processes = false;
};

struct EvalResult {
  OrderedJson metrics;                   // {task: {metric: value, ...}, ...}
  std::map<std::string, double> losses;  // mean loss per task over the set
  std::size_t images = 0;
};

EvalResult evaluate_model(models::ArchitectureImpl& model, const data::Dataset& dataset, const EvalSetup& setup);

// Scores the prediction folder `predictions` (<task>/<id>.png|.npy). Every file must exist and
// have the image's size; a missing or malformed file is an error naming it.
OrderedJson evaluate_predictions(const data::Dataset& dataset, const std::vector<std::string>& ids,
                                 const tasks::TaskSet& tasks, const fs::path& predictions, int threads = 0);

// Where a prediction lives in a prediction folder ('/' in ids becomes '_').
fs::path prediction_path(const fs::path& folder, const std::string& task, const std::string& id);

// The value Delta_m reads for a task from a metrics object, if present.
std::optional<double> primary_metric(const OrderedJson& metrics, const std::string& task);

}  // namespace densemtl::eval
