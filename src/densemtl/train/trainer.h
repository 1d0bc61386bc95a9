// `densemtl train`: the training loop. Knows nothing about particular tasks, architectures or
// balancers: it asks the model for outputs, the task registry for losses, the balancer for the
// update, and the evaluator for metrics.
#pragma once

#include <string>
#include <vector>

#include "densemtl/core/fs.h"
#include "densemtl/core/json.h"

namespace densemtl::train {

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
};

TrainResult train(const TrainOptions& options);

}  // namespace densemtl::train
