#include "densemtl/models/build.h"

#include <set>

#include "densemtl/core/error.h"
#include "densemtl/core/log.h"
#include "densemtl/core/strings.h"
#include "densemtl/models/torch_file.h"

namespace densemtl::models {

Architecture build_model(const ModelSpec& spec, const std::string& backbone_weights, const std::string& weights) {
  Architecture m = make_architecture(spec);
  if (!backbone_weights.empty()) load_backbone_weights(*m, backbone_weights);
  if (!weights.empty()) load_reference_weights(*m, weights);
  return m;
}

ParameterCount count_parameters(ArchitectureImpl& model) {
  ParameterCount c;
  auto named = model.named_parameters();
  std::map<std::string, std::int64_t> backbone;  // per group: the shared one, or one per task
  for (const auto& [name, part] : model.parameter_parts()) {
    std::int64_t n = named[name].numel();
    c.total += n;
    if (part->component == Component::Backbone) backbone[part->group.name()] += n;
    else if (part->component == Component::Head) c.heads += n;
    else c.other += n;
    c.groups[part->group.name()] += n;
  }
  // One backbone, or one per task (all the same size), or a tree whose blocks are shared by
  // different groups of tasks: then the backbone column is the whole tree-shaped encoder.
  bool copies = true;
  for (const auto& [group, n] : backbone) copies = copies && n == backbone.begin()->second;
  if (copies) {
    c.backbone = backbone.empty() ? 0 : backbone.begin()->second;
    c.backbones = static_cast<int>(backbone.size());
  } else {
    for (const auto& [group, n] : backbone) c.backbone += n;
    c.backbones = 1;
  }
  return c;
}

std::string ParameterCount::text() const {
  return fmt::format("{} total = {}{} backbone + {} heads + {} other", total, backbones > 1 ? fmt::format("{} x ", backbones) : "",
                     backbone, heads, other);
}

Json ParameterCount::to_json() const {
  return {{"total", total}, {"backbone", backbone}, {"backbones", backbones}, {"heads", heads}, {"other", other}, {"groups", groups}};
}

std::int64_t count_macs(ArchitectureImpl& model, int height, int width) {
  torch::NoGradGuard no_grad;
  bool was_training = model.is_training();
  model.eval();
  MacCounter counter;
  auto params = model.parameters();
  auto options = torch::TensorOptions().device(params.empty() ? torch::Device(torch::kCPU) : params.front().device());
  model.forward(torch::zeros({1, 3, height, width}, options));
  if (was_training) model.train();
  return counter.macs();
}

std::string LoadReport::summary(std::size_t max_names) const {
  auto list = [&](const std::vector<std::string>& v) {
    std::vector<std::string> shown(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(std::min(v.size(), max_names)));
    std::string s = join(shown, ", ");
    if (v.size() > max_names) s += fmt::format(", ... ({} in all)", v.size());
    return s;
  };
  std::string s = fmt::format("{} tensors loaded", loaded);
  if (!missing.empty()) s += "; missing from the file: " + list(missing);
  if (!mismatched.empty()) s += "; shape mismatch: " + list(mismatched);
  if (!unexpected.empty()) s += "; not in the model: " + list(unexpected);
  return s;
}

namespace {

std::string shape(const at::Tensor& t) {
  std::vector<std::string> d;
  for (auto s : t.sizes()) d.push_back(std::to_string(s));
  return "[" + join(d, ", ") + "]";
}

}  // namespace

LoadReport load_tensors(torch::nn::Module& module, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                        const std::string& add_prefix) {
  torch::NoGradGuard no_grad;
  std::map<std::string, at::Tensor> targets;
  for (const auto& p : module.named_parameters()) targets[p.key()] = p.value();
  for (const auto& b : module.named_buffers()) targets[b.key()] = b.value();
  LoadReport r;
  std::set<std::string> seen;
  for (const auto& [raw_name, value] : tensors) {
    std::string name = add_prefix + raw_name;
    auto it = targets.find(name);
    if (it == targets.end()) {
      r.unexpected.push_back(raw_name);
      continue;
    }
    seen.insert(name);
    if (it->second.sizes() != value.sizes()) {
      r.mismatched.push_back(fmt::format("{}: file {} vs model {}", name, shape(value), shape(it->second)));
      continue;
    }
    it->second.copy_(value.to(it->second.dtype()));
    ++r.loaded;
  }
  for (const auto& [name, t] : targets)
    if (starts_with(name, add_prefix) && !seen.count(name)) r.missing.push_back(name);
  return r;
}

void load_single_task(ArchitectureImpl& model, const std::string& task, ArchitectureImpl& single_task) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : single_task.named_parameters()) tensors.emplace_back(p.key(), p.value());
  for (const auto& b : single_task.named_buffers()) tensors.emplace_back(b.key(), b.value());
  const auto prefixes = model.single_task_prefixes(task);
  if (prefixes.empty()) fail("the {} architecture is not built from single-task networks", model.spec().architecture);
  for (const auto& [theirs, ours] : prefixes) {
    std::vector<std::pair<std::string, at::Tensor>> part;
    for (const auto& [name, value] : tensors)
      if (starts_with(name, theirs)) part.emplace_back(name.substr(theirs.size()), value);
    LoadReport r = load_tensors(model, part, ours);
    if (!r.missing.empty() || !r.mismatched.empty() || !r.unexpected.empty() || r.loaded == 0)
      fail("the {} single-task network does not fit {} of the {} model: {}", task, ours, model.spec().architecture, r.summary());
  }
}

void load_backbone_weights(ArchitectureImpl& model, const fs::path& file) {
  auto tensors = torchfile::load_state_dict(file);
  // A file saved from a whole model carries "backbone."; torchvision files do not.
  if (!tensors.empty() && starts_with(tensors.front().first, "backbone."))
    for (auto& [name, value] : tensors)
      if (starts_with(name, "backbone.")) name = name.substr(9);
  auto backbones = model.backbones();
  if (backbones.empty()) fail("{}: backbone.weights: the {} architecture declares no backbone", file.string(), model.spec().architecture);
  for (const auto& [path, backbone] : backbones) {
    LoadReport r = load_tensors(*backbone, tensors);
    if (!r.mismatched.empty() || !r.missing.empty() || r.loaded == 0)
      fail("{}: backbone.weights do not fit the {} backbone ({}): {}", file.string(), model.spec().backbone.name, path, r.summary());
    log_info("backbone weights from {} into {}: {}", file.string(), path, r.summary());
  }
}

LoadReport load_reference_weights(ArchitectureImpl& model, const fs::path& file) {
  auto tensors = torchfile::load_state_dict(file);
  LoadReport r = load_tensors(model, tensors);
  if (!r.mismatched.empty() || !r.missing.empty())
    fail("{}: the checkpoint does not fit this model: {}", file.string(), r.summary());
  log_info("weights from {}: {}", file.string(), r.summary());
  return r;
}

}  // namespace densemtl::models
