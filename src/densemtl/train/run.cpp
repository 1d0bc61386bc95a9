#include "densemtl/train/run.h"

#include <sys/resource.h>
#include <torch/torch.h>

#include "densemtl/core/device.h"
#include "densemtl/core/error.h"
#include "densemtl/core/log.h"
#include "densemtl/models/build.h"
#include "densemtl/models/inference.h"
#include "densemtl/train/checkpoint.h"

namespace densemtl::train {

std::string Run::name() const {
  if (summary.is_object() && summary.contains("name")) return summary["name"].get<std::string>();
  return experiment.name.empty() ? dir.filename().string() : experiment.name;
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

models::Architecture load_run_model(const Run& run, const data::DatasetInfo& info, const std::string& device) {
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
  model->to(select_device(device, run.dir.string()));
  models::prepare_for_inference(*model, run.experiment.model.channels_last);
  return model;
}

double peak_memory_mb() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

}  // namespace densemtl::train
