#include "densemtl/train/run.h"

#include <sys/resource.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "densemtl/core/device.h"
#include "densemtl/core/error.h"
#include "densemtl/core/log.h"
#include "densemtl/core/rng.h"
#include "densemtl/core/strings.h"
#include "densemtl/models/build.h"
#include "densemtl/models/inference.h"
#include "densemtl/train/checkpoint.h"

namespace densemtl::train {

std::string Run::name() const {
  if (summary.is_object() && summary.contains("name")) return summary["name"].get<std::string>();
  return experiment.name.empty() ? dir.filename().string() : experiment.name;
}

bool is_run_entry(const fs::path& entry) {
  static const std::set<std::string> files = {"checkpoint.pt", "best.pt", "log.jsonl", "run.json", "metrics.json", "train.lock"};
  const std::string name = entry.filename().string();
  std::error_code ec;
  if (name == "predictions") return fs::is_directory(entry, ec);
  if (files.count(name) || is_temporary_file(entry)) return fs::is_regular_file(entry, ec);
  // config.yaml as densemtl writes it (Config::save), not a user's own.
  if (name == "config.yaml") return fs::is_regular_file(entry, ec) && read_file(entry).rfind("# resolved configuration", 0) == 0;
  return false;
}

RunFolderClaim::RunFolderClaim(const fs::path& dir, bool resume) : dir_(dir) {
  std::error_code ec;
  created_ = !fs::exists(dir, ec);
  if (!created_ && !fs::is_directory(dir, ec)) fail("{}: is a file, not a run folder", dir.string());
  for (fs::directory_iterator it(dir, ec), end; !created_ && !ec && it != end; it.increment(ec))
    if (!is_run_entry(it->path()))
      fail("{}: holds {}, which is not part of a densemtl run; choose an empty or new --out folder (nothing was changed)",
           dir.string(), it->path().filename().string());
  has_checkpoint_ = fs::exists(dir / "checkpoint.pt", ec);
  if (has_checkpoint_ && !resume)
    fail("{}: already holds a run; pass --resume to continue it, or choose another --out", dir.string());
  for (const char* result : {"run.json", "best.pt", "metrics.json"})
    if (!has_checkpoint_ && fs::exists(dir / result, ec))
      fail("{}: holds a finished run ({}) whose checkpoint.pt is gone: it cannot be continued, and training again would "
           "replace its results; choose another --out", dir.string(), result);
  fs::create_directories(dir);
  auto lock = std::make_unique<FileLock>(FileLock::try_lock(dir / "train.lock"));
  if (!lock->held()) {
    if (created_) fs::remove_all(dir, ec);
    fail("{}: is being trained by {}; one training per run folder", dir.string(), FileLock::holder(dir / "train.lock"));
  }
  lock_ = std::move(lock);
}

RunFolderClaim::~RunFolderClaim() {
  if (dir_.empty()) return;
  std::error_code ec;
  if (created_ && !fs::exists(dir_ / "checkpoint.pt", ec)) {
    lock_.reset();
    fs::remove_all(dir_, ec);
  }
}

Run open_run(const fs::path& dir) {
  require_dir(dir, "run folder");
  Run r;
  r.dir = dir;
  if (!fs::exists(r.config_file())) fail("{}: not a run folder (no config.yaml)", dir.string());
  r.experiment = Experiment::load(r.config_file());
  r.summary = fs::exists(r.summary_file()) ? read_json(r.summary_file()) : Json::object();
  return r;
}

models::Architecture load_run_weights(const Run& run, const data::DatasetInfo& info) {
  models::Architecture model = models::make_architecture(run.experiment.model_spec(info));
  if (fs::exists(run.best())) {
    load_weights(*model, run.best());
  } else if (fs::exists(run.checkpoint())) {
    log_warn("{}: no best.pt (the run was not validated yet); using the model of its last checkpoint, {}", run.dir.string(),
             run.checkpoint().filename().string());
    load_weights(*model, run.checkpoint());
  } else {
    fail("{}: the run has no trained model yet (no best.pt or checkpoint.pt)", run.dir.string());
  }
  return model;
}

models::Architecture load_run_model(const Run& run, const data::DatasetInfo& info, const std::string& device) {
  models::Architecture model = load_run_weights(run, info);
  model->to(select_device(device, run.dir.string()));
  models::prepare_for_inference(*model, run.experiment.model.channels_last);
  return model;
}

namespace {

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

TrainingSplit training_split(const Experiment& e, const data::Dataset& dataset) {
  TrainingSplit s;
  s.train = with_context(e.source() + ": data.train_split", [&] { return dataset.ids(e.data.train_split); });
  if (!e.data.val_split.empty())
    s.val = with_context(e.source() + ": data.val_split", [&] { return dataset.ids(e.data.val_split); });
  else
    s.val = carve_validation(s.train, e.data.val_share, e.seed);
  if (e.data.max_train_images > 0 && s.train.size() > e.data.max_train_images) s.train.resize(e.data.max_train_images);
  return s;
}

std::map<std::string, Run> open_single_task_runs(const std::vector<std::string>& dirs, const Experiment& e, const std::string& key) {
  std::map<std::string, Run> from;  // task -> its run
  for (const std::string& dir : dirs) {
    Run run;
    try {
      run = open_run(dir);
    } catch (const Error& x) {
      fail("{}: {}", key, x.what());
    }
    const Experiment& r = run.experiment;
    auto differs = [&](const char* what, const std::string& theirs, const std::string& ours) {
      if (theirs != ours) fail("{}: {} was trained with {} {}, this model has {}", key, dir, what, theirs, ours);
    };
    if (models::architecture_entry(r.model.architecture).role != models::ArchitectureEntry::Role::SingleTask || r.tasks.main.size() != 1)
      fail("{}: {} is a {} run, not a single-task run", key, dir, r.model.architecture);
    differs("backbone", r.model.backbone, e.model.backbone);
    differs("backbone.dilated", r.model.dilated ? "true" : "false", e.model.dilated ? "true" : "false");
    differs("model.width", fmt::format("{:g}", r.model.width), fmt::format("{:g}", e.model.width));
    differs("head", r.model.head, e.model.head);
    differs("data.dataset", r.data.dataset, e.data.dataset);
    differs("data.root", fs::weakly_canonical(r.data.root).string(), fs::weakly_canonical(e.data.root).string());
    const std::string& task = r.tasks.main.front();
    if (std::find(e.tasks.main.begin(), e.tasks.main.end(), task) == e.tasks.main.end())
      fail("{}: {} trains {}, which is not a task of this model ({})", key, dir, task, join(e.tasks.main, ", "));
    if (from.count(task)) fail("{}: {} and {} both train {}", key, from.at(task).dir.string(), dir, task);
    from.emplace(task, std::move(run));
  }
  for (const auto& t : e.tasks.main)
    if (!from.count(t)) {
      std::vector<std::string> trained;
      for (const auto& [task, run] : from) trained.push_back(task);
      fail("{}: no run for task {} (the runs train {})", key, t, trained.empty() ? "nothing" : join(trained, ", "));
    }
  return from;
}

void init_from_single_task_runs(models::ArchitectureImpl& model, const Experiment& e, const data::DatasetInfo& info) {
  const std::vector<std::string> runs = model.single_task_runs();
  const std::string arch = e.model.architecture;
  const std::string key = fmt::format("{}: model.{}.single_task_runs", e.source(), arch);
  if (runs.empty()) {
    if (!model.single_task_prefixes(e.tasks.main.front()).empty())
      log_warn("{} is empty: the task networks start from backbone.weights (or at random), not from single-task runs as the {} paper "
               "builds them",
               key, arch);
    return;
  }
  if (!e.model.weights.empty()) fail("{}: set either model.weights or single-task runs, not both", key);
  for (const auto& [task, run] : open_single_task_runs(runs, e, key)) {
    models::Architecture st = load_run_weights(run, info);
    try {
      models::load_single_task(model, task, *st);
    } catch (const Error& x) {
      fail("{}: {}: {}", key, run.dir.string(), x.what());
    }
    log_info("{}: initialised from the single-task run {}", task, run.dir.string());
  }
}

double peak_memory_mb() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

}  // namespace densemtl::train
