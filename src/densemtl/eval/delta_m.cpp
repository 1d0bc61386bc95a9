#include "densemtl/eval/delta_m.h"

#include "densemtl/eval/evaluator.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::eval {

DeltaM delta_m(const OrderedJson& model, const std::map<std::string, OrderedJson>& baselines,
               const std::vector<std::string>& task_names) {
  DeltaM d;
  double sum = 0;
  int n = 0;
  for (const auto& t : task_names) {
    auto base_it = baselines.find(t);
    std::optional<double> m = primary_metric(model, t);
    std::optional<double> b = base_it == baselines.end() ? std::nullopt : primary_metric(base_it->second, t);
    if (!m || !b || *b == 0.0) {
      d.missing.push_back(t);
      continue;
    }
    double rel = (*m - *b) / *b;
    if (tasks::get(t).lower_is_better()) rel = -rel;
    d.per_task[t] = rel;
    sum += rel;
    ++n;
  }
  d.value = n > 0 ? sum / n : 0.0;
  return d;
}

}  // namespace densemtl::eval
