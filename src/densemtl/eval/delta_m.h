// Multi-task performance Delta_m (the survey's Eq. 10, as its code's
// calculate_multi_task_performance computes it):
//   Delta_m = (1/T) sum_t (-1)^{l_t} (M_{m,t} - M_{b,t}) / M_{b,t}
// with l_t = 1 when lower is better, over the multi-task model's main tasks, against single-task
// baselines of the same backbone. Metrics per task: semseg/human_parts mIoU, sal mIoU, normals
// mean, edge odsF, depth rmse.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "densemtl/core/json.h"

namespace densemtl::eval {

struct DeltaM {
  double value = 0;                      // a fraction (print x 100 for %)
  std::map<std::string, double> per_task;  // signed relative change per task
  std::vector<std::string> missing;      // tasks without a baseline or a metric
  bool complete() const { return missing.empty(); }
};

// `model` and every baseline are metrics objects ({task: {metric: value}}). `baselines` maps a
// task to the metrics of its single-task run.
DeltaM delta_m(const OrderedJson& model, const std::map<std::string, OrderedJson>& baselines,
               const std::vector<std::string>& tasks);

}  // namespace densemtl::eval
