#include "densemtl/train/trainer.h"

#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <set>
#include <thread>

#include "densemtl/core/collective.h"
#include "densemtl/core/device.h"
#include "densemtl/core/error.h"
#include "densemtl/core/log.h"
#include "densemtl/core/progress.h"
#include "densemtl/core/parallel.h"
#include "densemtl/core/rng.h"
#include "densemtl/core/strings.h"
#include "densemtl/core/torch_setup.h"
#include "densemtl/dist/process_group.h"
#include "densemtl/eval/delta_m.h"
#include "densemtl/models/build.h"
#include "densemtl/models/inference.h"
#include "densemtl/models/sync_batch_norm.h"
#include "densemtl/train/gradient_sync.h"

namespace densemtl::train {

namespace {

// Each task's mean loss over the batches labelled for it.
std::string loss_text(const std::map<std::string, double>& sums, const std::map<std::string, double>& counts) {
  std::vector<std::string> parts;
  for (const auto& t : tasks::names())
    if (sums.count(t)) parts.push_back(fmt::format("{} {:.4f}", t, sums.at(t) / counts.at(t)));
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

// The first line where two resolved configs differ, for the resume error.
std::string first_difference(const std::string& a, const std::string& b) {
  auto x = split(a, '\n'), y = split(b, '\n');
  for (std::size_t i = 0; i < std::max(x.size(), y.size()); ++i) {
    std::string l = i < x.size() ? x[i] : "", r = i < y.size() ? y[i] : "";
    if (l != r) return fmt::format(" (run: '{}', now: '{}')", trim(l), trim(r));
  }
  return "";
}

// Several processes: every parameter and buffer as rank 0 has it (the same start everywhere,
// whatever the initialisation or the checkpoint read).
void broadcast_state(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  auto send = [](torch::Tensor t) {
    torch::Tensor flat = t.contiguous();  // channels-last weights travel in the standard layout
    world()->broadcast(flat, 0);
    if (!flat.is_same(t)) t.copy_(flat);
  };
  for (auto& p : module.parameters()) send(p);
  for (auto& b : module.buffers()) send(b);
}

}  // namespace

int Training::rank() const { return group_ ? group_->rank() : 0; }
int Training::processes() const { return group_ ? group_->size() : 1; }
void Training::barrier() {
  if (group_) group_->barrier();
}

double selection_score(const eval::EvalResult& r, const OrderedJson& reference, const std::vector<std::string>& main) {
  std::map<std::string, OrderedJson> baseline;
  for (const auto& t : main) baseline[t] = reference["metrics"];
  eval::DeltaM d = eval::delta_m(r.metrics, baseline, main);
  double sum = 0;
  int scored = 0;
  for (const auto& t : main) {
    auto it = d.per_task.find(t);
    if (it != d.per_task.end()) {
      sum += it->second;
      ++scored;
    } else if (r.losses.count(t) && reference["losses"].contains(t)) {
      // No metric for this task (or a zero reference): its validation loss, lower is better.
      double v = r.losses.at(t), ref = reference["losses"][t].get<double>();
      sum -= (v - ref) / std::max(std::fabs(ref), 1e-12);
      ++scored;
    }
    // Neither (no validation image labelled for the task): it does not take part.
  }
  return scored == 0 ? 0.0 : sum / static_cast<double>(scored);
}

Training::Training(const TrainOptions& options) : options_(options) {
  experiment_ = Experiment::load(options.config, options.overrides);
  // The run keeps the dataset's absolute path, so evaluate/predict/report work from any folder.
  if (experiment_.data.root.is_relative()) {
    std::vector<std::string> overrides = options.overrides;
    overrides.push_back("data.root=" + fs::absolute(experiment_.data.root).lexically_normal().string());
    experiment_ = Experiment::load(options.config, overrides);
  }
  const Experiment& e = experiment_;
  group_ = dist::join_launch({e.distributed.backend, e.device, e.distributed.timeout});
  try {
    set_up(options);
  } catch (const std::exception& error) {
    report_failure(error.what());
    throw;
  }
}

void Training::set_up(const TrainOptions& options) {
  const bool has_checkpoint = prepare_run_folder(options);
  use_threads_and_device();
  const data::LoaderOptions lo = set_up_data(options);
  set_up_model(has_checkpoint);
  if (group_) set_up_processes();
  if (leader()) trim_log(run_.log(), state_.epoch);
  const Experiment& e = experiment_;
  step_.tasks = &tasks_;
  step_.main = e.tasks.main;
  step_.amp = e.train.amp;
  step_.device = device_;
  const data::PipelineOptions pipeline = e.pipeline(dataset_->info());
  if (balancer_->needs_validation_batches()) set_up_validation_batches(pipeline, lo);
  val_setup_.ids = val_ids_;
  val_setup_.tasks = tasks::TaskSet(e.tasks.main, e.config.get());
  val_setup_.pipeline = pipeline;
  val_setup_.batch_size = e.eval.batch_size;
  val_setup_.workers = lo.workers;
  val_setup_.device = device_.str();
  val_setup_.channels_last = e.model.channels_last;
  val_setup_.label = "validate";
  val_setup_.shard_over_processes = group_ != nullptr;
  log_info("{}: {} on {} ({} train / {} val / {} test images), tasks {}, balancer {}", name_, e.model.architecture,
           dataset_->info().name, train_ids_.size(), val_ids_.size(), test_ids_.size(), join(tasks_.names(), ", "), e.balancer);
}

// The run folder, claimed (see RunFolderClaim: refusing a user's folder, a finished run, a second
// training, or a run with a checkpoint without --resume); a resumed run must have the same config.
// Writes the resolved config. Returns whether the folder holds a checkpoint to resume from.
bool Training::prepare_run_folder(const TrainOptions& options) {
  const Experiment& e = experiment_;
  name_ = e.name.empty() ? options.config.stem().string() : e.name;
  fs::path dir = options.out.empty() ? fs::path("runs") / name_ : options.out;
  run_.dir = dir;
  run_.experiment = e;
  bool has_checkpoint = fs::exists(run_.checkpoint());
  if (leader()) {
    claim_ = RunFolderClaim(dir, options.resume);
    has_checkpoint = claim_.has_checkpoint();
  } else if (has_checkpoint && !options.resume) {
    fail("{}: already holds a run; pass --resume to continue it, or choose another --out", dir.string());
  }
  if (has_checkpoint && fs::exists(run_.config_file())) {
    Experiment saved = Experiment::load(run_.config_file());
    if (saved.config->dump() != e.config->dump())
      fail("{}: the config differs from the run's config.yaml{}; resume with the same config and --set values", dir.string(),
           first_difference(saved.config->dump(), e.config->dump()));
  }
  if (leader()) {
    remove_temporary_files(dir);  // left by a killed run's writers
    e.config->save(run_.config_file());
  }
  barrier();
  return has_checkpoint;
}

void Training::use_threads_and_device() {
  const Experiment& e = experiment_;
  // Several processes on one machine share its cores.
  int threads = e.threads;
  if (threads <= 0 && group_) {
    const int local = std::max(1, group_->launch().local_size);
    threads = std::max(1, default_threads() / local);
  }
  setup_torch(threads);
  seed_torch(e.seed);
  device_ = select_device(group_ ? group_->device_for(e.device) : e.device, e.source());
}

// The dataset, the splits (every trained task labelled on some training image) and the training
// loader (this process's shard of every batch); returns the loader's options.
data::LoaderOptions Training::set_up_data(const TrainOptions& options) {
  const Experiment& e = experiment_;
  dataset_ = e.open_dataset();
  const data::DatasetInfo& info = dataset_->info();
  tasks_ = e.task_set();
  TrainingSplit split = training_split(e, *dataset_);
  train_ids_ = std::move(split.train);
  val_ids_ = std::move(split.val);
  if (options.evaluate_test)
    test_ids_ = with_context(e.source() + ": data.test_split", [&] { return dataset_->ids(e.data.test_split); });
  if (train_ids_.empty()) fail("{}: no training images left", e.source());
  // Partially labelled data: every trained task needs labelled training images.
  for (const auto& t : tasks_.names()) {
    std::size_t n = 0;
    for (const auto& id : train_ids_) n += dataset_->labelled(id, t) ? 1 : 0;
    if (n == 0) fail("{}: no training image of {} is labelled for task '{}'", e.source(), info.root.string(), t);
    if (n < train_ids_.size()) log_info("{}: labelled on {} of {} training images", t, n, train_ids_.size());
  }
  data::LoaderOptions lo;
  lo.batch_size = batch_size_ = e.train.batch_size;
  lo.shuffle = true;
  lo.drop_last = e.train.drop_last;
  lo.workers = e.data.workers;
  lo.prefetch = e.data.prefetch;
  lo.seed = e.seed;
  lo.pin_memory = device_.is_cuda();
  if (group_) {
    const int n = group_->size();
    if (lo.batch_size % n != 0)
      fail("{}: train.batch_size {} is not a multiple of the {} processes (each takes an equal part of every batch)", e.source(),
           lo.batch_size, n);
    const std::size_t rest = lo.drop_last ? 0 : train_ids_.size() % static_cast<std::size_t>(lo.batch_size);
    if (rest % static_cast<std::size_t>(n) != 0)
      fail("{}: train.drop_last is false and the last batch of {} images cannot be split evenly over {} processes; set "
           "train.drop_last: true", e.source(), rest, n);
    lo.shards = n;
    lo.shard = group_->rank();
  }
  loader_ = std::make_unique<data::Loader>(*dataset_, train_ids_, tasks_.names(), data::Pipeline(e.pipeline(info), true), lo);
  if (loader_->batches_per_epoch() == 0)
    fail("{}: train.batch_size {} is larger than the {} training images (with drop_last)", e.source(), lo.batch_size, train_ids_.size());
  return lo;
}

// The model (from single-task runs where the architecture starts from them), the balancer, the
// optimizer with its learning-rate groups and the schedule; the checkpoint when resuming.
void Training::set_up_model(bool has_checkpoint) {
  const Experiment& e = experiment_;
  const data::DatasetInfo& info = dataset_->info();
  model_ = models::build_model(e.model_spec(info), e.model.backbone_weights, e.model.weights);
  if (!has_checkpoint) init_from_single_task_runs(*model_, e, info);
  model_->to(device_);
  if (e.model.channels_last) models::to_channels_last(*model_);
  models::set_sync_batch_norm(group_ && e.train.sync_bn);
  balancer_ = balancing::make_balancer(e.balancer, e.balancer_setup());
  balancer_->check(*model_);
  balancer_->to(device_);
  LrGroups groups = model_->parameters_by_lr_factor();
  for (auto& p : balancer_->parameters()) groups.front().second.push_back(p);
  for (const auto& [factor, params] : groups) {
    lr_factors_.push_back(factor);
    if (factor != 1.0) log_info("{} parameter tensors learn at {:g} x the learning rate", params.size(), factor);
  }
  optimizer_ = make_optimizer(*e.config, groups);
  schedule_ = schedule_from_config(*e.config);
  if (has_checkpoint) {
    state_ = load_checkpoint(run_.checkpoint(), *model_, *optimizer_, *balancer_);
    log_info("resuming {} after epoch {}", run_.dir.string(), state_.epoch);
  }
}

// Several processes: the same epoch and weights everywhere, and the gradient sums.
void Training::set_up_processes() {
  // Every process must resume from the same epoch (the run folder on storage all of them see).
  torch::Tensor epoch = torch::tensor({static_cast<double>(state_.epoch)}, torch::kFloat64);
  std::vector<torch::Tensor> epochs = group_->all_gather(epoch);
  for (std::size_t r = 0; r < epochs.size(); ++r)
    if (epochs[r].item<double>() != static_cast<double>(state_.epoch))
      fail("{}: rank {} starts after epoch {}, rank {} after epoch {}: every process must see the same run folder (shared "
           "storage) to resume", run_.dir.string(), r, static_cast<int>(epochs[r].item<double>()), group_->rank(), state_.epoch);
  broadcast_state(*model_);
  std::vector<torch::Tensor> trained;
  for (const auto& p : model_->parameters())
    if (p.requires_grad()) trained.push_back(p);
  const Experiment& e = experiment_;
  sync_ = std::make_unique<GradientSync>(*group_, trained, static_cast<std::int64_t>(e.distributed.bucket_mb * (1 << 20)),
                                         e.distributed.overlap);
  step_.sync = sync_.get();
}

// Bilevel balancers read validation batches during training: a cycling loader over the validation
// split, evaluation pipeline, reshuffled each pass (restarted with every training epoch, so a
// resumed run sees the same batches).
void Training::set_up_validation_batches(const data::PipelineOptions& pipeline, const data::LoaderOptions& lo) {
  const Experiment& e = experiment_;
  if (val_ids_.empty())
    fail("{}: balancer {} learns from validation batches; set data.val_split or data.val_share > 0", e.source(), e.balancer);
  data::LoaderOptions vo = lo;
  vo.drop_last = val_ids_.size() >= static_cast<std::size_t>(lo.batch_size);
  if (group_ && !vo.drop_last && val_ids_.size() % static_cast<std::size_t>(group_->size()) != 0)
    fail("{}: balancer {} reads validation batches, and the {} validation images (fewer than a batch) cannot be split evenly "
         "over {} processes; use more validation images", e.source(), e.balancer, val_ids_.size(), group_->size());
  vo.seed = e.seed + 1;
  val_loader_ = std::make_unique<data::Loader>(*dataset_, val_ids_, tasks_.names(), data::Pipeline(pipeline, false), vo);
  step_.validation_batch = [this, channels_last = e.model.channels_last] {
    auto batch = val_loader_->next();
    if (!batch) {
      val_loader_->start_epoch(++val_pass_);
      batch = val_loader_->next();
    }
    return std::make_pair(to_model_layout(batch->image.to(device_, /*non_blocking=*/true), channels_last), batch->labels);
  };
}

Training::~Training() = default;

eval::EvalResult Training::validate() { return eval::evaluate_model(*model_, *dataset_, val_setup_); }

bool Training::run_epoch() {
  const Experiment& e = experiment_;
  const int epochs = e.train.epochs;
  if (state_.epoch >= epochs) return false;
  const int epoch = state_.epoch;
  const auto steps_per_epoch = static_cast<std::int64_t>(loader_->batches_per_epoch());
  if (!schedule_.per_iteration) set_learning_rate(*optimizer_, schedule_.rate(epoch, epochs), lr_factors_);
  model_->train();
  model_->set_epoch(epoch, epochs);
  loader_->start_epoch(epoch);
  if (val_loader_) val_loader_->start_epoch(val_pass_ = epoch * 1000);
  std::map<std::string, double> sums, counts;  // per task, over the batches labelled for it
  std::set<std::string> supervised;            // tasks with a valid label pixel in some batch
  ProgressBar bar(fmt::format("epoch {}/{}", epoch + 1, epochs), steps_per_epoch * batch_size_, "img");
  while (auto batch = loader_->next()) {
    if (schedule_.per_iteration)
      set_learning_rate(*optimizer_, schedule_.rate(static_cast<double>(state_.step), static_cast<double>(steps_per_epoch * epochs)),
                        lr_factors_);
    for (const auto& t : e.tasks.main)
      if (!supervised.count(t) && batch->labels.at(t).ne(tasks::Task::kIgnore).any().item<bool>()) supervised.insert(t);
    torch::Tensor image = to_model_layout(batch->image.to(device_, /*non_blocking=*/true), e.model.channels_last);
    balancing::Losses::Values values;
    try {
      values = train_step(*model_, *balancer_, *optimizer_, image, batch->labels, step_, epoch, state_.step, batch->unlabelled());
    } catch (const NonFiniteLoss& bad) {
      fail("{}: the {} loss is {} at epoch {}, step {}; training stopped (the last checkpoint, after epoch {}, is intact)",
           run_.dir.string(), bad.term, bad.value, epoch + 1, state_.step + 1, state_.epoch);
    }
    for (const auto& [t, v] : values.per_task) {
      sums[t] += v;
      counts[t] += 1;
    }
    ++state_.step;
    bar.set_postfix(loss_text(sums, counts));
    bar.advance(batch->size() * processes());
  }
  const double epoch_seconds = bar.finish();
  const double images_per_second = bar.rate();
  require_supervision(supervised, epoch);
  state_.train_seconds += epoch_seconds;
  std::map<std::string, double> mean_losses;
  for (const auto& [t, s] : sums) mean_losses[t] = s / counts.at(t);
  balancer_->end_epoch(mean_losses);

  OrderedJson line;
  line["epoch"] = epoch + 1;
  line["lr"] = learning_rate(*optimizer_);
  line["train_loss"] = mean_losses;
  line["balancer_weights"] = balancer_->weights();
  line["seconds"] = epoch_seconds;
  line["images_per_second"] = images_per_second;
  const int eval_every = e.train.eval_every;
  const bool due = !val_ids_.empty() && ((eval_every > 0 && (epoch + 1) % eval_every == 0) || epoch + 1 == epochs);
  if (due) {
    eval::EvalResult r = validate();
    if (state_.reference.is_null() || state_.reference.empty())
      state_.reference = OrderedJson{{"metrics", r.metrics}, {"losses", r.losses}};
    double score = selection_score(r, state_.reference, e.tasks.main);
    bool best = score > state_.best_score;
    if (best) {
      state_.best_score = score;
      state_.best_epoch = epoch + 1;
      state_.best_val = r.metrics;
      if (leader()) save_weights(*model_, run_.best());
    }
    balancer_->after_validation(r.metrics);
    line["val_loss"] = r.losses;
    line["val"] = r.metrics;
    line["score"] = score;
    line["best"] = best;
  }
  state_.epoch = epoch + 1;
  if (sync_) line["gradient_wait_seconds"] = sync_->take_wait_seconds();
  if (leader()) {
    append_line(run_.log(), line.dump());
    save_checkpoint(run_.checkpoint(), *model_, *optimizer_, *balancer_, state_);
  }
  barrier();  // the checkpoint and best.pt are on disk before any process goes on
  log_info("epoch {}/{} done in {} ({:.1f} img/s){}", epoch + 1, epochs, format_duration(epoch_seconds), images_per_second,
           due ? fmt::format(", validation score {:+.4f}{}", line["score"].get<double>(), line["best"].get<bool>() ? " (best)" : "") : "");
  return state_.epoch < epochs;
}

// A task whose labels had no valid pixel in a whole epoch (depth 0 everywhere, say) would train on
// a loss of 0 and report metrics of nothing: stop and say so. Several processes: over all of them.
void Training::require_supervision(const std::set<std::string>& supervised, int epoch) {
  const auto& main = experiment_.tasks.main;
  std::vector<double> seen;
  for (const auto& t : main) seen.push_back(supervised.count(t) ? 1.0 : 0.0);
  if (group_) {
    torch::Tensor sums = torch::tensor(seen, torch::kFloat64);
    world()->all_reduce_sum(sums);
    for (std::size_t i = 0; i < main.size(); ++i) seen[i] = sums[static_cast<std::int64_t>(i)].item<double>();
  }
  for (std::size_t i = 0; i < main.size(); ++i)
    if (seen[i] == 0)
      fail("{}: task {}: no training label has a valid pixel in epoch {} (every value invalid or ignored): its loss is 0 and its "
           "metrics would mean nothing; check the labels with densemtl info --dataset {} --check",
           run_.dir.string(), main[i], epoch + 1, experiment_.data.root.string());
}

TrainResult Training::finish() {
  const Experiment& e = experiment_;
  TrainResult result;
  result.run_dir = run_.dir;
  result.epochs_done = state_.epoch;
  result.leader = leader();
  if (state_.epoch < e.train.epochs) {
    log_info("stopped after epoch {} of {}; continue with --resume", state_.epoch, e.train.epochs);
    return result;
  }
  result.finished = true;
  // The final model: the best validation epoch (the last epoch without validation data).
  if (fs::exists(run_.best())) load_weights(*model_, run_.best());
  else if (leader()) save_weights(*model_, run_.best());

  const data::DatasetInfo& info = dataset_->info();
  OrderedJson summary;
  summary["name"] = name_;
  summary["config"] = options_.config.string();
  summary["dataset"] = info.name;
  summary["dataset_root"] = info.root.string();
  summary["architecture"] = e.model.architecture;
  summary["backbone"] = e.model.backbone;
  summary["head"] = e.model.head;
  summary["width"] = e.model.width;
  summary["balancer"] = e.balancer;
  summary["tasks"] = e.tasks.main;
  summary["aux_tasks"] = e.tasks.aux;
  models::ParameterCount pc = models::count_parameters(*model_);
  summary["parameters"] = pc.to_json();
  cv::Size input = e.input_size(info);
  summary["gflops_per_image"] = 2.0 * static_cast<double>(models::count_macs(*model_, input.height, input.width)) / 1e9;
  summary["input_size"] = {input.height, input.width};
  summary["epochs"] = state_.epoch;
  summary["best_epoch"] = state_.best_epoch;
  summary["train_seconds"] = state_.train_seconds;
  summary["train_steps"] = state_.step;
  if (state_.step > 0) summary["ms_per_step"] = 1000.0 * state_.train_seconds / static_cast<double>(state_.step);
  summary["train_images"] = train_ids_.size();
  summary["val_images"] = val_ids_.size();
  summary["val_metrics"] = state_.best_val;
  if (options_.evaluate_test) {
    // Scored as evaluate --run scores it: batch norms folded for inference.
    models::prepare_for_inference(*model_, e.model.channels_last);
    eval::EvalSetup test = val_setup_;
    test.ids = test_ids_;
    test.predictions = run_.predictions(e.data.test_split);
    test.label = "test";
    eval::EvalResult r = eval::evaluate_model(*model_, *dataset_, test);
    result.test_metrics = r.metrics;
    if (leader()) write_json(run_.metrics_file(), r.metrics);
    summary["test_split"] = e.data.test_split;
    summary["test_images"] = test_ids_.size();
    summary["test_metrics"] = r.metrics;
  }
  summary["peak_memory_mb"] = peak_memory_mb();
  if (group_) {
    summary["processes"] = group_->size();
    summary["sync_bn"] = e.train.sync_bn;
  }
  if (leader()) write_json(run_.summary_file(), summary);
  barrier();
  return result;
}

TrainResult train(const TrainOptions& options) {
  Training training(options);
  try {
    const int last = options.stop_after > 0 ? std::min(training.epochs(), training.epochs_done() + options.stop_after) : training.epochs();
    while (training.epochs_done() < last) training.run_epoch();
    return training.finish();
  } catch (const std::exception& e) {
    training.report_failure(e.what());
    throw;
  }
}

void Training::report_failure(const std::string& message) noexcept {
  if (group_) group_->report_failure(message);
}

}  // namespace densemtl::train
