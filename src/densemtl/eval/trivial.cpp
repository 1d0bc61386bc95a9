#include "densemtl/eval/trivial.h"

#include <map>
#include <memory>

namespace densemtl::eval {

OrderedJson trivial_baseline(const data::Dataset& dataset, const std::vector<std::string>& train_ids,
                             const std::vector<std::string>& eval_ids, const tasks::TaskSet& task_set, int threads,
                             std::size_t max_train_images) {
  const std::vector<std::string>& names = task_set.names();
  std::map<std::string, std::unique_ptr<tasks::ConstantPredictor>> predictors;
  for (const auto& t : names) predictors[t] = task_set.at(t).constant_predictor();
  // Statistics over (up to max_train_images, evenly spread) training images.
  std::size_t n = std::min(train_ids.size(), max_train_images);
  for (std::size_t i = 0; i < n; ++i) {
    data::Sample s = dataset.load(train_ids[i * train_ids.size() / n], names);
    for (const auto& [task, label] : s.labels) predictors.at(task)->observe(label);
  }
  std::map<std::string, std::unique_ptr<tasks::Metric>> metrics;
  for (const auto& t : names) metrics[t] = task_set.at(t).make_metric({dataset.info(), threads});
  for (const auto& id : eval_ids) {
    data::Sample s = dataset.load(id, names);
    for (const auto& [task, train_label] : s.labels) metrics.at(task)->update(predictors.at(task)->predict(s.image.size()), *s.ground_truth(task));
  }
  OrderedJson out = OrderedJson::object();
  for (const auto& t : names) out[t] = metrics.at(t)->result();
  return out;
}

}  // namespace densemtl::eval
