#include "densemtl/eval/evaluator.h"

#include <torch/torch.h>

#include "densemtl/core/device.h"
#include "densemtl/core/error.h"
#include "densemtl/core/progress.h"
#include "densemtl/core/strings.h"
#include "densemtl/data/loader.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::eval {

fs::path prediction_path(const fs::path& folder, const std::string& task, const std::string& id) {
  std::string name = id;
  for (char& c : name)
    if (c == '/' || c == '\\') c = '_';
  return folder / task / (name + tasks::get(task).prediction_extension());
}

MetricOptions metric_options(const data::DatasetInfo& info, double edge_max_dist, int edge_thresholds) {
  MetricOptions o;
  o.class_names = info.class_names;
  o.edge_max_dist = edge_max_dist > 0 ? edge_max_dist : info.edge_max_dist;
  o.edge_thresholds = edge_thresholds;
  return o;
}

std::optional<double> primary_metric(const OrderedJson& metrics, const std::string& task) {
  if (!metrics.contains(task)) return std::nullopt;
  const auto& m = metrics.at(task);
  std::string key = tasks::get(task).delta_metric();
  if (!m.contains(key) || !m.at(key).is_number()) return std::nullopt;
  return m.at(key).get<double>();
}

namespace {

MetricOptions with_parts(MetricOptions o, const data::DatasetInfo& info, const std::string& task) {
  if (task == "human_parts") o.class_names = info.part_names;
  return o;
}

}  // namespace

EvalResult evaluate_model(models::ArchitectureImpl& model, const data::Dataset& dataset, const EvalSetup& s) {
  const data::DatasetInfo& info = dataset.info();
  std::map<std::string, std::unique_ptr<Metric>> metrics;
  for (const auto& t : s.tasks) metrics[t] = tasks::get(t).make_metric(with_parts(s.metric, info, t));
  if (s.predictions)
    for (const auto& t : s.tasks) fs::create_directories(*s.predictions / t);
  data::LoaderOptions lo;
  lo.batch_size = s.batch_size;
  lo.workers = s.workers;
  lo.keep_raw_labels = true;
  data::Loader loader(dataset, s.ids, s.tasks, data::Pipeline(s.pipeline, false), lo);
  loader.start_epoch(0);
  bool was_training = model.is_training();
  model.eval();
  c10::InferenceMode inference;
  torch::Device device = select_device(s.device, "evaluate");
  EvalResult result;
  std::map<std::string, double> loss_sum;
  std::map<std::string, double> loss_count;
  ProgressBar bar(s.label, static_cast<std::int64_t>(loader.samples()), "img");
  while (auto batch = loader.next()) {
    models::ModelOutput out = model.forward(to_model_layout(batch->image.to(device), s.channels_last));
    for (const auto& t : s.tasks) {
      torch::Tensor pred = out.tasks.at(t).to(torch::kCPU, torch::kFloat32);
      torch::Tensor l = tasks::get(t).loss(pred, batch->labels.at(t), s.loss);
      loss_sum[t] += l.item<double>() * static_cast<double>(batch->size());
      loss_count[t] += static_cast<double>(batch->size());
      for (std::int64_t i = 0; i < batch->size(); ++i) {
        const auto& raw = batch->raw_labels[static_cast<std::size_t>(i)];
        cv::Mat stored = tasks::get(t).encode_prediction(pred[i], batch->original_sizes[static_cast<std::size_t>(i)]);
        if (s.predictions) tasks::get(t).write_prediction(prediction_path(*s.predictions, t, batch->ids[static_cast<std::size_t>(i)]), stored);
        auto lab = raw.find(t);
        if (metrics[t] && lab != raw.end()) metrics[t]->update(stored, lab->second);
      }
    }
    result.images += static_cast<std::size_t>(batch->size());
    bar.advance(batch->size());
  }
  bar.finish();
  if (was_training) model.train();
  result.metrics = OrderedJson::object();
  for (const auto& t : s.tasks) {
    if (metrics[t]) result.metrics[t] = metrics[t]->result();
    result.losses[t] = loss_count[t] > 0 ? loss_sum[t] / loss_count[t] : 0.0;
  }
  return result;
}

OrderedJson evaluate_predictions(const data::Dataset& dataset, const std::vector<std::string>& ids,
                                 const std::vector<std::string>& task_names, const fs::path& folder,
                                 const MetricOptions& options) {
  require_dir(folder, "prediction folder");
  // Every file must be there before anything is scored.
  std::vector<std::string> missing;
  for (const auto& t : task_names) {
    if (!fs::is_directory(folder / t)) fail("{}: no '{}' predictions (missing folder {})", folder.string(), t, (folder / t).string());
    for (const auto& id : ids)
      if (!fs::exists(prediction_path(folder, t, id))) missing.push_back(prediction_path(folder, t, id).string());
  }
  if (!missing.empty())
    fail("{}: {} prediction file(s) missing (first: {})", folder.string(), missing.size(), missing.front());
  std::map<std::string, std::unique_ptr<Metric>> metrics;
  for (const auto& t : task_names) metrics[t] = tasks::get(t).make_metric(with_parts(options, dataset.info(), t));
  ProgressBar bar("score", static_cast<std::int64_t>(ids.size()), "img");
  for (const auto& id : ids) {
    data::Sample s = dataset.load(id, task_names);
    for (const auto& t : task_names) {
      fs::path file = prediction_path(folder, t, id);
      cv::Mat stored = tasks::get(t).read_prediction(file);
      if (stored.size() != s.image.size())
        fail("{}: prediction is {}x{}, the image is {}x{} (predictions must be at the original size)", file.string(),
             stored.rows, stored.cols, s.image.rows, s.image.cols);
      const cv::Mat* gt = s.ground_truth(t);
      if (metrics[t] && gt) with_context(file.string(), [&] { metrics[t]->update(stored, *gt); });
    }
    bar.advance();
  }
  bar.finish();
  OrderedJson out = OrderedJson::object();
  for (const auto& t : task_names)
    if (metrics[t]) out[t] = metrics[t]->result();
  return out;
}

}  // namespace densemtl::eval
