#include "densemtl/eval/evaluator.h"

#include <torch/torch.h>

#include "densemtl/core/collective.h"
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

std::optional<double> primary_metric(const OrderedJson& metrics, const std::string& task) {
  if (!metrics.contains(task)) return std::nullopt;
  const auto& m = metrics.at(task);
  // Scored on no image (no image of the split labelled for the task): no metric.
  if (m.contains("images") && m.at("images").is_number() && m.at("images").get<double>() == 0) return std::nullopt;
  std::string key = tasks::get(task).delta_metric();
  if (!m.contains(key) || !m.at(key).is_number()) return std::nullopt;
  return m.at(key).get<double>();  // a number (checked above); null when no pixel was valid
}

EvalResult evaluate_model(models::ArchitectureImpl& model, const data::Dataset& dataset, const EvalSetup& s) {
  const data::DatasetInfo& info = dataset.info();
  std::map<std::string, std::unique_ptr<tasks::Metric>> metrics;
  for (const auto& t : s.tasks.names()) metrics[t] = s.tasks.at(t).make_metric({info, s.threads});
  if (s.predictions)
    for (const auto& t : s.tasks.names()) fs::create_directories(*s.predictions / t);
  data::LoaderOptions lo;
  lo.batch_size = s.batch_size;
  lo.workers = s.workers;
  lo.keep_raw_labels = true;
  const bool sharded = s.shard_over_processes && world() && world()->size() > 1;
  if (sharded) {
    lo.shards = world()->size();
    lo.shard = world()->rank();
    lo.split_batches = false;  // whole batches, so that each batch's loss is the one-process one
  }
  data::Loader loader(dataset, s.ids, s.tasks.names(), data::Pipeline(s.pipeline, false), lo);
  loader.start_epoch(0);
  bool was_training = model.is_training();
  model.eval();
  std::optional<c10::InferenceMode> inference(std::in_place);
  torch::Device device = select_device(s.device, "evaluate");
  EvalResult result;
  std::map<std::string, double> loss_sum;
  std::map<std::string, double> loss_count;
  std::size_t mine = 0;  // this process's images (all of them with one process)
  for (std::size_t b = 0; b < loader.batches_per_epoch(); ++b) mine += loader.batch_range(b).second - loader.batch_range(b).first;
  ProgressBar bar(s.label, static_cast<std::int64_t>(mine), "img");
  while (auto batch = loader.next()) {
    models::ModelOutput out = model.forward(to_model_layout(batch->image.to(device), s.channels_last));
    for (const auto& t : s.tasks.names()) {
      const tasks::Task& task = s.tasks.at(t);
      torch::Tensor pred = out.tasks.at(t).to(torch::kCPU, torch::kFloat32);
      // The loss over the batch's labelled images, weighted by their number.
      const auto labelled = static_cast<double>(batch->labelled_count(t));
      if (labelled > 0) {
        torch::Tensor l = task.loss(pred, batch->labels.at(t));
        loss_sum[t] += l.item<double>() * labelled;
        loss_count[t] += labelled;
      }
      for (std::int64_t i = 0; i < batch->size(); ++i) {
        const auto& raw = batch->raw_labels[static_cast<std::size_t>(i)];
        cv::Mat stored = task.encode_prediction(pred[i], batch->original_sizes[static_cast<std::size_t>(i)]);
        if (s.predictions) task.write_prediction(prediction_path(*s.predictions, t, batch->ids[static_cast<std::size_t>(i)]), stored);
        auto lab = raw.find(t);
        if (metrics[t] && lab != raw.end()) metrics[t]->update(stored, lab->second);
      }
    }
    result.images += static_cast<std::size_t>(batch->size());
    bar.advance(batch->size());
  }
  bar.finish();
  if (was_training) model.train();
  // The pooling's tensors are updated in place by the process group's threads: not inference tensors.
  inference.reset();
  if (sharded) {
    std::vector<double> sums{static_cast<double>(result.images)};
    for (const auto& t : s.tasks.names()) {
      sums.push_back(loss_sum[t]);
      sums.push_back(loss_count[t]);
    }
    torch::Tensor all = torch::tensor(sums, torch::kFloat64);
    world()->all_reduce_sum(all);
    result.images = static_cast<std::size_t>(all[0].item<double>());
    for (std::size_t i = 0; i < s.tasks.names().size(); ++i) {
      const auto& t = s.tasks.names()[i];
      loss_sum[t] = all[static_cast<std::int64_t>(1 + 2 * i)].item<double>();
      loss_count[t] = all[static_cast<std::int64_t>(2 + 2 * i)].item<double>();
    }
    for (const auto& t : s.tasks.names()) tasks::merge_over_processes(*metrics[t]);
  }
  result.metrics = OrderedJson::object();
  for (const auto& t : s.tasks.names()) {
    if (metrics[t]) result.metrics[t] = metrics[t]->result();
    if (loss_count[t] > 0) result.losses[t] = loss_sum[t] / loss_count[t];  // none without a labelled image
  }
  return result;
}

OrderedJson evaluate_predictions(const data::Dataset& dataset, const std::vector<std::string>& ids,
                                 const tasks::TaskSet& task_set, const fs::path& folder, int threads) {
  const std::vector<std::string>& task_names = task_set.names();
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
  std::map<std::string, std::unique_ptr<tasks::Metric>> metrics;
  for (const auto& t : task_names) metrics[t] = task_set.at(t).make_metric({dataset.info(), threads});
  ProgressBar bar("score", static_cast<std::int64_t>(ids.size()), "img");
  for (const auto& id : ids) {
    data::Sample s = dataset.load(id, task_names);
    for (const auto& t : task_names) {
      fs::path file = prediction_path(folder, t, id);
      cv::Mat stored = task_set.at(t).read_prediction(file);
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
