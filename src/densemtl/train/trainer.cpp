#include "densemtl/train/trainer.h"

#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "densemtl/balancing/balancer.h"
#include "densemtl/core/device.h"
#include "densemtl/core/error.h"
#include "densemtl/core/log.h"
#include "densemtl/core/progress.h"
#include "densemtl/core/rng.h"
#include "densemtl/core/strings.h"
#include "densemtl/core/torch_setup.h"
#include "densemtl/data/loader.h"
#include "densemtl/eval/evaluator.h"
#include "densemtl/models/build.h"
#include "densemtl/models/inference.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/train/experiment.h"
#include "densemtl/train/optim.h"
#include "densemtl/train/run.h"
#include "densemtl/train/step.h"

namespace densemtl::train {

namespace {


// State carried across epochs and resumes (besides model, optimizer and RNG).
struct State {
  int epoch = 0;                 // epochs done
  double best_score = -1e300;
  int best_epoch = 0;
  double train_seconds = 0;
  std::int64_t step = 0;
  OrderedJson reference;         // first validation: {"metrics": ..., "losses": ...}
  OrderedJson best_val;          // validation metrics of the best epoch

  Json to_json() const {
    return Json{{"epoch", epoch}, {"best_score", best_score}, {"best_epoch", best_epoch}, {"train_seconds", train_seconds},
                {"step", step}, {"reference", Json::parse(reference.dump())}, {"best_val", Json::parse(best_val.dump())}};
  }
  static State from_json(const Json& j) {
    State s;
    s.epoch = j.at("epoch").get<int>();
    s.best_score = j.at("best_score").get<double>();
    s.best_epoch = j.at("best_epoch").get<int>();
    s.train_seconds = j.at("train_seconds").get<double>();
    s.step = j.at("step").get<std::int64_t>();
    s.reference = OrderedJson::parse(j.at("reference").dump());
    s.best_val = OrderedJson::parse(j.at("best_val").dump());
    return s;
  }
};

void save_checkpoint(const fs::path& file, models::ArchitectureImpl& model, torch::optim::Optimizer& optimizer,
                     balancing::Balancer& balancer, const State& state) {
  write_atomic(file, [&](const fs::path& tmp) {
    torch::serialize::OutputArchive a, o, b;
    write_model(a, model);
    optimizer.save(o);
    balancer.save(b);
    a.write("optimizer", o);
    a.write("balancer", b);
    a.write("state", c10::IValue(state.to_json().dump()));
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      a.write("torch_rng", gen.get_state());
    }
    a.save_to(tmp.string());
  }, /*durable=*/true);
}

State load_checkpoint(const fs::path& file, models::ArchitectureImpl& model, torch::optim::Optimizer& optimizer,
                      balancing::Balancer& balancer) {
  torch::serialize::InputArchive a, o, b;
  try {
    a.load_from(file.string());
  } catch (const c10::Error& e) {
    fail("{}: not a densemtl checkpoint ({})", file.string(), trim(split(e.what_without_backtrace(), '\n').front()));
  }
  read_model(a, model, file.string() + ": cannot resume, the checkpoint");
  try {
    a.read("optimizer", o);
    optimizer.load(o);
    a.read("balancer", b);
    balancer.load(b);
    c10::IValue state;
    a.read("state", state);
    torch::Tensor rng;
    a.read("torch_rng", rng);
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng);
    }
    return State::from_json(Json::parse(state.toStringRef()));
  } catch (const c10::Error& e) {
    fail("{}: cannot resume from this checkpoint; it does not fit the configured model ({})", file.string(),
         trim(split(e.what_without_backtrace(), '\n').front()));
  }
}

// Mean relative change against the reference, sign so that higher is better; a task without its
// Delta_m metric (e.g. boundaries before odsF is computed) uses its validation loss.
double selection_score(const eval::EvalResult& r, const OrderedJson& reference, const std::vector<std::string>& main) {
  double sum = 0;
  int n = 0;
  for (const auto& t : main) {
    std::optional<double> v = eval::primary_metric(r.metrics, t), ref = eval::primary_metric(reference["metrics"], t);
    bool lower = tasks::get(t).lower_is_better();
    if (!v || !ref) {
      v = r.losses.at(t);
      ref = reference["losses"][t].get<double>();
      lower = true;
    }
    double denom = std::max(std::fabs(*ref), 1e-12);
    double rel = (*v - *ref) / denom;
    sum += lower ? -rel : rel;
    ++n;
  }
  return n ? sum / n : 0.0;
}

std::string loss_text(const std::map<std::string, double>& sums, double count) {
  std::vector<std::string> parts;
  for (const auto& t : tasks::names())
    if (sums.count(t)) parts.push_back(fmt::format("{} {:.4f}", t, sums.at(t) / std::max(1.0, count)));
  return join(parts, " ");
}

// Keeps only the log lines of epochs before `first_epoch` (after a resume).
void trim_log(const fs::path& log, int first_epoch) {
  if (!fs::exists(log)) return;
  std::ifstream in(log);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      if (Json::parse(line).at("epoch").get<int>() <= first_epoch) kept += line + "\n";
    } catch (const std::exception&) {
    }
  }
  write_file_atomic(log, kept);
}

void append_line(const fs::path& file, const std::string& line) {
  std::ofstream out(file, std::ios::app);
  out << line << "\n";
  if (!out) fail("{}: cannot append", file.string());
}

std::vector<std::string> carve_validation(std::vector<std::string>& train_ids, double share, std::uint64_t seed) {
  std::size_t k = static_cast<std::size_t>(std::lround(share * static_cast<double>(train_ids.size())));
  if (share > 0 && k == 0 && train_ids.size() > 1) k = 1;
  std::vector<std::string> order = train_ids;
  Rng rng({seed, 0x7a1ull});
  rng.shuffle(order);
  std::set<std::string> val(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k));
  std::vector<std::string> rest, held;
  for (const auto& id : train_ids) (val.count(id) ? held : rest).push_back(id);
  train_ids = rest;
  return held;
}

}  // namespace

StepLosses forward_losses(models::ArchitectureImpl& model, const torch::Tensor& image,
                          const std::map<std::string, torch::Tensor>& labels, const std::vector<std::string>& main_tasks,
                          const tasks::Task::LossOptions& options, bool amp, const c10::Device& device) {
  StepLosses s;
  {
    Autocast autocast(amp, device);
    s.out = model.forward(image);
  }
  for (const auto& t : main_tasks)
    s.losses[t] = tasks::get(t).loss(s.out.tasks.at(t).to(torch::kFloat32), labels.at(t).to(device, true), options);
  for (const auto& aux : s.out.aux) {
    torch::Tensor up = models::upsample(aux.value.to(torch::kFloat32), image.size(2), image.size(3));
    torch::Tensor l = tasks::get(aux.task).loss(up, labels.at(aux.task).to(device, true), options);
    s.losses[aux.task] = s.losses.count(aux.task) ? s.losses[aux.task] + l : l;
  }
  return s;
}

TrainResult train(const TrainOptions& options) {
  config::Config cfg = config::Config::load(experiment_schema(), options.config, options.overrides);
  // The run keeps the dataset's absolute path, so evaluate/predict/report work from any folder.
  if (fs::path(cfg.get_string("data.root")).is_relative()) {
    std::vector<std::string> overrides = options.overrides;
    overrides.push_back("data.root=" + fs::absolute(cfg.get_string("data.root")).lexically_normal().string());
    cfg = config::Config::load(experiment_schema(), options.config, overrides);
  }
  std::string name = cfg.get_string("name");
  if (name.empty()) name = options.config.stem().string();
  fs::path dir = options.out.empty() ? fs::path("runs") / name : options.out;
  Run run;
  run.dir = dir;
  run.config = cfg;

  // Run folder: refuse to overwrite a run unless resuming it with the same config.
  bool has_checkpoint = fs::exists(run.checkpoint());
  if (has_checkpoint && !options.resume)
    fail("{}: already holds a run; pass --resume to continue it, or choose another --out", dir.string());
  if (has_checkpoint && fs::exists(run.config_file())) {
    config::Config saved = config::Config::load(experiment_schema(), run.config_file());
    if (saved.dump() != cfg.dump()) {
      // Name the first differing line, so the user sees which key changed.
      auto a = split(saved.dump(), '\n'), b = split(cfg.dump(), '\n');
      std::string where;
      for (std::size_t i = 0; i < std::max(a.size(), b.size()) && where.empty(); ++i) {
        std::string x = i < a.size() ? a[i] : "", y = i < b.size() ? b[i] : "";
        if (x != y) where = fmt::format(" (run: '{}', now: '{}')", trim(x), trim(y));
      }
      fail("{}: the config differs from the run's config.yaml{}; resume with the same config and --set values", dir.string(), where);
    }
  }
  fs::create_directories(dir);
  cfg.save(run.config_file());

  setup_torch(static_cast<int>(cfg.get_int("threads")));
  const std::uint64_t seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  seed_torch(seed);
  const torch::Device device = select_device(cfg.get_string("device"), cfg.source());
  const bool channels_last = cfg.get_bool("model.channels_last");
  const bool amp = cfg.get_string("train.amp") == "bf16";
  if (amp && !device.is_cuda()) fail("{}: train.amp: bf16 needs device: cuda", cfg.source());

  // Data.
  auto dataset = open_experiment_dataset(cfg);
  const data::DatasetInfo& info = dataset->info();
  std::vector<std::string> main_tasks = tasks::canonical(cfg.get_string_list("tasks.main"));
  std::vector<std::string> all_tasks = main_tasks;
  for (const auto& a : tasks::canonical(cfg.get_string_list("tasks.aux")))
    if (std::find(all_tasks.begin(), all_tasks.end(), a) == all_tasks.end()) all_tasks.push_back(a);
  all_tasks = tasks::canonical(all_tasks);
  std::vector<std::string> train_ids = with_context(cfg.source() + ": data.train_split", [&] { return dataset->ids(cfg.get_string("data.train_split")); });
  std::vector<std::string> val_ids;
  if (!cfg.get_string("data.val_split").empty())
    val_ids = with_context(cfg.source() + ": data.val_split", [&] { return dataset->ids(cfg.get_string("data.val_split")); });
  else
    val_ids = carve_validation(train_ids, cfg.get_float("data.val_share"), seed);
  std::vector<std::string> test_ids;
  if (options.evaluate_test)
    test_ids = with_context(cfg.source() + ": data.test_split", [&] { return dataset->ids(cfg.get_string("data.test_split")); });
  auto max_train = static_cast<std::size_t>(cfg.get_int("data.max_train_images"));
  if (max_train > 0 && train_ids.size() > max_train) train_ids.resize(max_train);
  if (train_ids.empty()) fail("{}: no training images left", cfg.source());

  data::PipelineOptions train_pipe = experiment_pipeline(cfg, info), eval_pipe = train_pipe;
  data::LoaderOptions lo;
  lo.batch_size = static_cast<int>(cfg.get_int("train.batch_size"));
  lo.shuffle = true;
  lo.drop_last = cfg.get_bool("train.drop_last");
  lo.workers = static_cast<int>(cfg.get_int("data.workers"));
  lo.prefetch = static_cast<int>(cfg.get_int("data.prefetch"));
  lo.seed = seed;
  lo.pin_memory = device.is_cuda();
  data::Loader loader(*dataset, train_ids, all_tasks, data::Pipeline(train_pipe, true), lo);
  if (loader.batches_per_epoch() == 0)
    fail("{}: train.batch_size {} is larger than the {} training images (with drop_last)", cfg.source(), lo.batch_size, train_ids.size());

  // Model, balancer, optimizer.
  models::Architecture model = models::build_model(cfg, info);
  model->to(device);
  if (channels_last) models::to_channels_last(*model);
  balancing::Options bo = balancing::options_from_config(cfg);
  std::unique_ptr<balancing::Balancer> balancer = balancing::make_balancer(bo);
  std::vector<torch::Tensor> params = model->parameters();
  for (auto& p : balancer->parameters()) params.push_back(p);
  std::unique_ptr<torch::optim::Optimizer> optimizer = make_optimizer(cfg, params);
  Schedule schedule = schedule_from_config(cfg);

  State state;
  if (has_checkpoint) {
    state = load_checkpoint(run.checkpoint(), *model, *optimizer, *balancer);
    log_info("resuming {} after epoch {}", dir.string(), state.epoch);
  }
  trim_log(run.log(), state.epoch);

  const int epochs = static_cast<int>(cfg.get_int("train.epochs"));
  const int eval_every = static_cast<int>(cfg.get_int("train.eval_every"));
  const auto steps_per_epoch = static_cast<std::int64_t>(loader.batches_per_epoch());
  tasks::Task::LossOptions loss_options;
  loss_options.edge_pos_weight = cfg.get_float("tasks.edge_pos_weight");
  eval::EvalSetup val_setup;
  val_setup.ids = val_ids;
  val_setup.tasks = main_tasks;
  val_setup.pipeline = eval_pipe;
  val_setup.batch_size = static_cast<int>(cfg.get_int("eval.batch_size"));
  val_setup.workers = lo.workers;
  val_setup.metric = eval::metric_options(info, cfg.get_float("eval.edge_max_dist"), static_cast<int>(cfg.get_int("eval.edge_thresholds")));
  val_setup.loss = loss_options;
  val_setup.device = cfg.get_string("device");
  val_setup.channels_last = channels_last;
  val_setup.label = "validate";

  log_info("{}: {} on {} ({} train / {} val / {} test images), tasks {}", name, cfg.get_string("model.architecture"),
           info.name, train_ids.size(), val_ids.size(), test_ids.size(), join(all_tasks, ", "));

  const int last = options.stop_after > 0 ? std::min(epochs, state.epoch + options.stop_after) : epochs;
  for (int epoch = state.epoch; epoch < last; ++epoch) {
    if (!schedule.per_iteration) set_learning_rate(*optimizer, schedule.rate(epoch, epochs));
    model->train();
    loader.start_epoch(epoch);
    std::map<std::string, double> sums;
    double batches = 0;
    ProgressBar bar(fmt::format("epoch {}/{}", epoch + 1, epochs), static_cast<std::int64_t>(steps_per_epoch * lo.batch_size), "img");
    while (auto batch = loader.next()) {
      if (schedule.per_iteration)
        set_learning_rate(*optimizer, schedule.rate(static_cast<double>(state.step), static_cast<double>(steps_per_epoch * epochs)));
      torch::Tensor image = to_model_layout(batch->image.to(device, /*non_blocking=*/true), channels_last);
      auto [out, losses] = forward_losses(*model, image, batch->labels, main_tasks, loss_options, amp, device);
      // One read-back per step for all the task losses (the NaN check and the progress line).
      std::vector<torch::Tensor> values;
      for (const auto& [t, l] : losses) values.push_back(l.detach().to(torch::kFloat64));
      torch::Tensor host = torch::stack(values).to(torch::kCPU);
      std::size_t k = 0;
      for (const auto& [t, l] : losses) {
        double v = host[static_cast<std::int64_t>(k++)].item<double>();
        if (!std::isfinite(v))
          fail("{}: the {} loss is {} at epoch {}, step {}; training stopped (the last checkpoint, after epoch {}, is intact)",
               dir.string(), t, v, epoch + 1, state.step + 1, state.epoch);
        sums[t] += v;
      }
      optimizer->zero_grad();
      balancing::Context ctx{*model, out, epoch, state.step};
      balancer->backward(losses, ctx);
      optimizer->step();
      ++state.step;
      batches += 1;
      bar.set_postfix(loss_text(sums, batches));
      bar.advance(batch->size());
    }
    double epoch_seconds = bar.finish();
    double images_per_second = bar.rate();
    state.train_seconds += epoch_seconds;
    std::map<std::string, double> mean_losses;
    for (const auto& [t, s] : sums) mean_losses[t] = s / std::max(1.0, batches);
    balancer->end_epoch(mean_losses);

    OrderedJson line;
    line["epoch"] = epoch + 1;
    line["lr"] = learning_rate(*optimizer);
    line["train_loss"] = mean_losses;
    line["balancer_weights"] = balancer->weights();
    line["seconds"] = epoch_seconds;
    line["images_per_second"] = images_per_second;
    bool validate = !val_ids.empty() && ((eval_every > 0 && (epoch + 1) % eval_every == 0) || epoch + 1 == epochs);
    if (validate) {
      eval::EvalResult r = eval::evaluate_model(*model, *dataset, val_setup);
      if (state.reference.is_null() || state.reference.empty())
        state.reference = OrderedJson{{"metrics", r.metrics}, {"losses", r.losses}};
      double score = selection_score(r, state.reference, main_tasks);
      bool best = score > state.best_score;
      if (best) {
        state.best_score = score;
        state.best_epoch = epoch + 1;
        state.best_val = r.metrics;
        save_weights(*model, run.best());
      }
      line["val_loss"] = r.losses;
      line["val"] = r.metrics;
      line["score"] = score;
      line["best"] = best;
    }
    state.epoch = epoch + 1;
    append_line(run.log(), line.dump());
    save_checkpoint(run.checkpoint(), *model, *optimizer, *balancer, state);
    log_info("epoch {}/{} done in {} ({:.1f} img/s){}", epoch + 1, epochs, format_duration(epoch_seconds), images_per_second,
             validate ? fmt::format(", validation score {:+.4f}{}", line["score"].get<double>(), line["best"].get<bool>() ? " (best)" : "") : "");
  }

  TrainResult result;
  result.run_dir = dir;
  result.epochs_done = state.epoch;
  if (state.epoch < epochs) {
    log_info("stopped after epoch {} of {}; continue with --resume", state.epoch, epochs);
    return result;
  }
  result.finished = true;
  // The final model: the best validation epoch (the last epoch without validation data).
  if (fs::exists(run.best())) load_weights(*model, run.best());
  else save_weights(*model, run.best());

  OrderedJson summary;
  summary["name"] = name;
  summary["config"] = options.config.string();
  summary["dataset"] = info.name;
  summary["dataset_root"] = info.root.string();
  summary["architecture"] = cfg.get_string("model.architecture");
  summary["backbone"] = cfg.get_string("backbone.name");
  summary["head"] = cfg.get_string("model.head");
  summary["width"] = cfg.get_float("model.width");
  summary["tasks"] = main_tasks;
  summary["aux_tasks"] = cfg.get_string_list("tasks.aux");
  models::ParameterCount pc = models::count_parameters(*model);
  summary["parameters"] = {{"total", pc.total}, {"backbone", pc.backbone}, {"heads", pc.heads}, {"other", pc.other}};
  cv::Size input = experiment_input_size(cfg, info);
  summary["gflops_per_image"] = 2.0 * static_cast<double>(models::count_macs(*model, input.height, input.width)) / 1e9;
  summary["input_size"] = {input.height, input.width};
  summary["epochs"] = state.epoch;
  summary["best_epoch"] = state.best_epoch;
  summary["train_seconds"] = state.train_seconds;
  summary["train_images"] = train_ids.size();
  summary["val_images"] = val_ids.size();
  summary["val_metrics"] = state.best_val;
  if (options.evaluate_test) {
    // Scored as evaluate --run scores it: batch norms folded for inference.
    models::prepare_for_inference(*model, channels_last);
    eval::EvalSetup test = val_setup;
    test.ids = test_ids;
    test.predictions = run.predictions(cfg.get_string("data.test_split"));
    test.label = "test";
    eval::EvalResult r = eval::evaluate_model(*model, *dataset, test);
    result.test_metrics = r.metrics;
    write_json(run.metrics_file(), r.metrics);
    summary["test_split"] = cfg.get_string("data.test_split");
    summary["test_images"] = test_ids.size();
    summary["test_metrics"] = r.metrics;
  }
  summary["peak_memory_mb"] = peak_memory_mb();
  write_json(run.summary_file(), summary);
  return result;
}

}  // namespace densemtl::train
