#include "densemtl/train/run.h"

#include <sys/resource.h>
#include <torch/torch.h>

#include "densemtl/core/device.h"
#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"
#include "densemtl/data/readers/readers.h"
#include "densemtl/models/build.h"
#include "densemtl/models/inference.h"
#include "densemtl/train/experiment.h"

namespace densemtl::train {

std::string Run::name() const {
  if (summary.is_object() && summary.contains("name")) return summary["name"].get<std::string>();
  std::string n = config.get_string("name");
  return n.empty() ? dir.filename().string() : n;
}

Run open_run(const fs::path& dir) {
  require_dir(dir, "run folder");
  Run r;
  r.dir = dir;
  if (!fs::exists(r.config_file())) fail("{}: not a run folder (no config.yaml)", dir.string());
  r.config = config::Config::load(experiment_schema(), r.config_file());
  r.summary = fs::exists(r.summary_file()) ? read_json(r.summary_file()) : Json::object();
  return r;
}

data::DatasetInfo dataset_info(const config::Config& cfg) {
  fs::path root = cfg.get_string("data.root");
  std::string kind = cfg.get_string("data.dataset");
  if (fs::exists(root)) return open_experiment_dataset(cfg)->info();
  data::DatasetInfo info;
  info.root = root;
  info.part_names = data::pascal_part_names();
  if (kind == "nyud") {
    info.format = data::Format::NYUD;
    info.class_names = data::nyu40_class_names();
    info.tasks = {"semseg", "normals", "edge", "depth"};
    info.default_size = cv::Size(640, 480);
  } else if (kind == "pascal") {
    info.format = data::Format::PASCAL;
    info.class_names = data::voc_class_names();
    info.tasks = {"semseg", "human_parts", "sal", "normals", "edge"};
    info.default_size = cv::Size(512, 512);
  } else if (kind == "mtan") {
    info.format = data::Format::MTAN;
    info.class_names = data::mtan13_class_names();
    info.tasks = {"semseg", "normals", "depth"};
    info.default_size = cv::Size(384, 288);
  } else {
    fail("{}: data.root: dataset folder not found: {} (generate it with densemtl generate)", cfg.source(), root.string());
  }
  return info;
}

namespace {
std::string shape_text(c10::IntArrayRef sizes) {
  std::vector<std::string> d;
  for (auto s : sizes) d.push_back(std::to_string(s));
  return "[" + join(d, ", ") + "]";
}
}  // namespace

void write_model(torch::serialize::OutputArchive& archive, torch::nn::Module& model, const std::string& prefix) {
  for (const auto& p : model.named_parameters()) archive.write(prefix + p.key(), p.value().detach().cpu());
  for (const auto& b : model.named_buffers()) archive.write(prefix + b.key(), b.value().cpu(), /*is_buffer=*/true);
}

void read_model(torch::serialize::InputArchive& archive, torch::nn::Module& model, const std::string& where,
                const std::string& prefix) {
  torch::NoGradGuard no_grad;
  auto load = [&](const std::string& name, torch::Tensor& target) {
    torch::Tensor value;
    if (!archive.try_read(prefix + name, value)) fail("{}: does not fit this model (it has no '{}')", where, name);
    if (value.sizes() != target.sizes())
      fail("{}: does not fit this model ('{}' is {} in the file, {} in the model)", where, name, shape_text(value.sizes()), shape_text(target.sizes()));
    target.copy_(value);
  };
  for (auto& p : model.named_parameters()) load(p.key(), p.value());
  for (auto& b : model.named_buffers()) load(b.key(), b.value());
}

void save_weights(models::ArchitectureImpl& model, const fs::path& file) {
  write_atomic(file, [&](const fs::path& tmp) {
    torch::serialize::OutputArchive a;
    write_model(a, model);
    a.save_to(tmp.string());
  }, true);
}

void load_weights(models::ArchitectureImpl& model, const fs::path& file) {
  require_file(file, "weights file");
  torch::serialize::InputArchive a;
  try {
    a.load_from(file.string());
  } catch (const c10::Error& e) {
    fail("{}: not a densemtl weights file ({})", file.string(), trim(split(e.what_without_backtrace(), '\n').front()));
  }
  read_model(a, model, file.string());
}

models::Architecture load_run_model(const Run& run, const data::DatasetInfo& info, const std::string& device) {
  models::Architecture model = models::make_architecture(models::model_spec(run.config, info));
  if (fs::exists(run.best())) {
    load_weights(*model, run.best());
  } else if (fs::exists(run.checkpoint())) {
    load_weights(*model, run.checkpoint());
  } else {
    fail("{}: the run has no trained model yet (no best.pt or checkpoint.pt)", run.dir.string());
  }
  model->to(select_device(device, run.dir.string()));
  models::prepare_for_inference(*model, run.config.get_bool("model.channels_last"));
  return model;
}

double peak_memory_mb() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

}  // namespace densemtl::train
