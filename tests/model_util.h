// Model specs for the architecture tests: an architecture on a backbone with tasks, auxiliary
// tasks and, when given, its own options (a YAML flow map for model.<architecture>); the model
// tensors of a checkpoint file.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "densemtl/core/fs.h"
#include "densemtl/core/strings.h"
#include "densemtl/models/architectures/architecture.h"
#include "densemtl/train/experiment.h"

namespace densemtl::test {

// Output channels per task on NYUD-v2 and PASCAL-Context.
inline const std::map<std::string, std::int64_t> kNyud = {{"semseg", 40}, {"depth", 1}, {"normals", 3}, {"edge", 1}};
inline const std::map<std::string, std::int64_t> kPascal = {{"semseg", 21}, {"human_parts", 7}, {"sal", 1}, {"normals", 3}, {"edge", 1}};

inline models::ModelSpec model_spec(const std::string& arch, const std::string& backbone, const std::vector<std::string>& tasks,
                                    const std::map<std::string, std::int64_t>& outputs, const std::string& options = "",
                                    const std::vector<std::string>& aux = {}, double width = 1.0) {
  models::ModelSpec s;
  s.architecture = arch;
  s.backbone.name = backbone;
  s.backbone.width = width;
  s.head.name = backbone == "hrnet_w18" ? "hrnet" : "deeplab";
  s.head.width = width;
  s.tasks = tasks;
  s.aux_tasks = aux;
  for (const auto& t : tasks) s.outputs[t] = outputs.at(t);
  for (const auto& t : aux) s.outputs[t] = outputs.at(t);
  if (!options.empty()) {
    std::string yaml = "data: {dataset: synthetic, root: none}\ntasks: {main: [" + join(tasks, ", ") + "], aux: [" + join(aux, ", ") +
                       "]}\nmodel:\n  architecture: " + arch + "\n  head: " + s.head.name + "\n  " + arch + ": " + options +
                       "\nbackbone: {name: " + backbone + "}\noptimizer: {name: sgd, lr: 0.01}\ntrain: {epochs: 1}\n";
    s.config = std::make_shared<const config::Config>(config::Config::parse(experiment_schema(), yaml, "test.yaml"));
  }
  return s;
}

inline models::ModelSpec spec(const std::string& arch, const std::string& backbone, std::vector<std::string> tasks,
                              const std::map<std::string, std::int64_t>& outputs, double width = 1.0) {
  return model_spec(arch, backbone, tasks, outputs, "", {}, width);
}

// `s` with auxiliary tasks (decoder-focused models' +edges_normals configs).
inline models::ModelSpec with_aux(models::ModelSpec s, std::vector<std::string> aux, const std::map<std::string, std::int64_t>& outputs) {
  s.aux_tasks = std::move(aux);
  for (const auto& t : s.aux_tasks) s.outputs[t] = outputs.at(t);
  return s;
}

// Small state-dict files written by PyTorch, kept with the tests.
inline fs::path state_dict_file(const std::string& name) { return fs::path(DENSEMTL_TEST_DATA) / "state_dicts" / name; }

inline std::map<std::string, at::Tensor> as_map(const std::vector<std::pair<std::string, at::Tensor>>& v) {
  return std::map<std::string, at::Tensor>(v.begin(), v.end());
}

// Every parameter and buffer of the model in a checkpoint (keys "model.<name>").
inline std::map<std::string, at::Tensor> checkpoint_model(const fs::path& file) {
  torch::serialize::InputArchive a;
  a.load_from(file.string());
  std::map<std::string, at::Tensor> out;
  for (const auto& key : a.keys()) {
    at::Tensor t;
    if (key.rfind("model.", 0) == 0 && a.try_read(key, t)) out[key] = t;
  }
  return out;
}

}  // namespace densemtl::test
