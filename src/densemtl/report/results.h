// The results module's data side, shared by `densemtl report` and the benchmark tables: one reader
// of run folders, the numbers a run reports, statistics over seeds, and the Δm grouping (which
// single-task runs a multi-task run is scored against).
#pragma once

#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "densemtl/core/fs.h"
#include "densemtl/core/json.h"
#include "densemtl/eval/delta_m.h"

namespace densemtl::report {

// One run folder's results, read once.
struct RunResult {
  fs::path dir;
  std::string name;  // the folder's name
  std::string architecture, balancer, backbone, dataset_root, test_split;
  double width = 1;
  std::vector<std::string> tasks;  // tasks.main
  bool single_task = false;        // a single-task run of one task: a Δm baseline
  OrderedJson test = OrderedJson::object();  // test-split metrics (metrics.json, else run.json's)
  OrderedJson val = OrderedJson::object();   // validation metrics of the final model (run.json)
  Json summary = Json::object();             // run.json (empty before training ends)
  std::vector<Json> log;                     // log.jsonl, one object per epoch

  // A number of run.json ("parameters.total", "gflops_per_image", ...); NaN when absent.
  double number(const std::string& dotted_key) const;
  bool has_task(const std::string& task) const;
  // "resnet18", or "resnet18 ×0.25" below full width.
  std::string backbone_text() const;
  // The architecture's label ("multi-task baseline").
  std::string model_text() const;
  // The validation losses of `task`, one point per validated epoch.
  std::pair<std::vector<double>, std::vector<double>> val_losses(const std::string& task) const;
};

// Reads a run folder (config.yaml must be there). Test metrics come from metrics.json, else from
// run.json's test_metrics; a run without either (training not finished) has none, said once in
// the log.
RunResult read_run(const fs::path& dir);

// The numeric metrics of one task's metrics object, in their order, without the counts every
// metric reports beside them (images, pixels, thresholds).
std::vector<std::pair<std::string, double>> scalar_metrics(const OrderedJson& task_metrics);

// Values over seeds.
struct Stat {
  std::vector<double> values;
  void add(double v) { values.push_back(v); }
  bool empty() const { return values.empty(); }
  double mean() const;
  // Sample standard deviation (n - 1); NaN below two values.
  double std() const;
  Json json() const;  // {"mean", "std", "values"} (null where undefined)
};
// |a - b| <= std(a) + std(b): the difference is within the seed spread (false below two seeds).
bool within_spread(const Stat& a, const Stat& b);
// "12.34 ± 0.56", "12.34" for one value, "–" for none.
std::string show(const Stat& s, int digits);

// The Δm grouping. Runs are compared within a group: in a report the runs of one dataset,
// backbone and width; in a benchmark one backbone group and seed. The single-task runs of a group
// are its baselines, one per task (a later one replaces an earlier one of the same task).
class Baselines {
 public:
  void add(const std::string& group, const RunResult& single_task_run);
  bool has(const std::string& group) const { return by_group_.count(group) > 0; }
  // Δm of `run`'s test metrics (or, with `validation`, its validation metrics) against the
  // group's baselines over run's tasks; nullopt when the group has no baseline.
  std::optional<eval::DeltaM> delta(const std::string& group, const RunResult& run, bool validation = false) const;

 private:
  std::map<std::string, std::map<std::string, const RunResult*>> by_group_;
};

// The Δm cell of a table: "+1.23", "+0.00 (baseline)", "n/a (no single-task depth)" or "n/a".
std::string delta_text(const RunResult& run, const std::optional<eval::DeltaM>& delta);

}  // namespace densemtl::report
