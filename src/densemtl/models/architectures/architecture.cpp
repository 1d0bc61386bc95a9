#include "densemtl/models/architectures/architecture.h"

#include <algorithm>
#include <map>
#include <set>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"

namespace densemtl::models {

namespace {

using ArchitectureRegistry = Registry<ArchitectureEntry>;

}  // namespace

const Features& Representation::for_task(const std::string& task) const {
  auto leaf = leaves.find(task);
  if (leaf != leaves.end()) return leaf->second;
  auto own = per_task.find(task);
  if (own != per_task.end()) return own->second;
  if (shared.empty()) fail("internal: no representation for task '{}'", task);
  return shared;
}

std::string ParameterGroup::name() const {
  switch (sharing) {
    case Sharing::Shared: return "shared";
    case Sharing::Task: return "task:" + task;
    case Sharing::CrossTask: return "cross_task";
  }
  return "?";
}

ArchitectureImpl::ArchitectureImpl(ModelSpec spec) : spec_(std::move(spec)) {}

void ArchitectureImpl::declare(const std::string& path, std::shared_ptr<torch::nn::Module> module, Component component,
                               ParameterGroup group, double lr_factor) {
  if (!(lr_factor > 0)) fail("internal: architecture {}: part {} declared with learning-rate factor {}", spec_.architecture, path, lr_factor);
  parts_.push_back({path, std::move(module), component, std::move(group), lr_factor});
}

std::vector<std::pair<std::string, const ArchitectureImpl::Part*>> ArchitectureImpl::parameter_parts() {
  std::map<const void*, const Part*> owner;
  for (const auto& part : parts_)
    for (const auto& p : part.module->parameters()) {
      auto [it, fresh] = owner.emplace(p.unsafeGetTensorImpl(), &part);
      if (!fresh && it->second != &part)
        fail("internal: architecture {}: a parameter is declared in both {} and {}", spec_.architecture, it->second->path, part.path);
    }
  std::vector<std::pair<std::string, const Part*>> out;
  for (const auto& p : named_parameters()) {
    auto it = owner.find(p.value().unsafeGetTensorImpl());
    if (it == owner.end())
      fail("internal: architecture {}: parameter '{}' belongs to no declared part", spec_.architecture, p.key());
    out.emplace_back(p.key(), it->second);
  }
  return out;
}

std::vector<torch::Tensor> ArchitectureImpl::shared_parameters() {
  auto named = named_parameters();
  std::vector<torch::Tensor> out;
  for (const auto& [name, part] : parameter_parts())
    if (!(part->group.sharing == Sharing::Task && part->group.exclusive)) out.push_back(named[name]);
  return out;
}

std::vector<torch::Tensor> ArchitectureImpl::task_parameters(const std::string& task) {
  auto named = named_parameters();
  std::vector<torch::Tensor> out;
  for (const auto& [name, part] : parameter_parts())
    if (part->group.sharing == Sharing::Task && part->group.exclusive && part->group.task == task) out.push_back(named[name]);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<BackboneImpl>>> ArchitectureImpl::backbones() const {
  std::vector<std::pair<std::string, std::shared_ptr<BackboneImpl>>> out;
  for (const auto& part : parts_)
    if (part.component == Component::Backbone)
      if (auto b = std::dynamic_pointer_cast<BackboneImpl>(part.module)) out.emplace_back(part.path, b);
  return out;
}

std::vector<std::pair<double, std::vector<torch::Tensor>>> ArchitectureImpl::parameters_by_lr_factor() {
  auto named = named_parameters();
  std::vector<std::pair<double, std::vector<torch::Tensor>>> out = {{1.0, {}}};
  for (const auto& [name, part] : parameter_parts()) {
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& g) { return g.first == part->lr_factor; });
    if (it == out.end()) it = out.insert(out.end(), {part->lr_factor, {}});
    it->second.push_back(named[name]);
  }
  return out;
}

Representation ArchitectureImpl::share(Features features) const {
  Representation r;
  r.shared = std::move(features);
  if (representation_gradients_ && is_training())
    for (const auto& t : spec_.tasks) {
      Features leaf;
      for (const auto& f : r.shared) leaf.push_back(f.detach().requires_grad_(true));
      r.leaves[t] = std::move(leaf);
    }
  return r;
}

Representation ArchitectureImpl::per_task(std::map<std::string, Features> features) {
  Representation r;
  r.per_task = std::move(features);
  return r;
}

config::View ArchitectureImpl::options() const {
  std::string section = "model." + spec_.architecture;
  if (spec_.config && spec_.config->has(section)) return config::View(*spec_.config, section);
  return config::defaults(section, architecture_entry(spec_.architecture).options);
}

std::map<std::string, std::shared_ptr<HeadImpl>> ArchitectureImpl::add_task_heads(const std::string& name,
                                                                                   const std::vector<std::int64_t>& channels) {
  auto dict = register_module(name, torch::nn::ModuleDict());
  std::map<std::string, std::shared_ptr<HeadImpl>> heads;
  for (const auto& t : spec_.tasks) {
    std::shared_ptr<HeadImpl> head = make_head(spec_.head, channels, spec_.outputs.at(t));
    add_module(*dict, t, head);
    declare(name + "." + t, head, Component::Head, ParameterGroup::of_task(t));
    heads[t] = head;
  }
  return heads;
}

void ArchitectureImpl::predict_tasks(ModelOutput& out, const std::map<std::string, std::shared_ptr<HeadImpl>>& heads,
                                     const torch::Tensor& image) const {
  for (const auto& t : spec_.tasks)
    out.tasks[t] = upsample(heads.at(t)->forward(out.representation.for_task(t)), image.size(2), image.size(3));
}

std::shared_ptr<BackboneImpl> ArchitectureImpl::add_backbone_part(torch::nn::ModuleDictImpl& into, const std::string& key,
                                                                  const std::string& path, std::size_t first, std::size_t end,
                                                                  ParameterGroup group) {
  std::shared_ptr<BackboneImpl> b = make_backbone(spec_.backbone);
  b->keep_stages(first, end);
  add_module(into, key, b);
  declare(path, b, Component::Backbone, std::move(group));
  return b;
}

std::string several_tasks_no_auxiliary(const ModelSpec& spec, const std::string& why) {
  if (spec.tasks.size() < 2) return fmt::format("tasks.main: {} {}, got {}", spec.architecture, why, join(spec.tasks, ", "));
  return no_auxiliary_tasks(spec);
}

std::string no_auxiliary_tasks(const ModelSpec& spec) {
  if (spec.aux_tasks.empty()) return "";
  return fmt::format("tasks.aux: the {} architecture has no auxiliary outputs (auxiliary tasks are deep supervision of "
                     "decoder-focused models); remove tasks.aux: [{}]",
                     spec.architecture, join(spec.aux_tasks, ", "));
}

Architecture make_architecture(const ModelSpec& spec) {
  const ArchitectureEntry& entry = architecture_entry(spec.architecture);
  if (entry.accepts) {
    std::string why = entry.accepts(spec);
    if (!why.empty()) fail("{}", why);
  }
  Architecture m = entry.make(spec);
  m->parameter_parts();  // every parameter declared exactly once
  return m;
}

std::vector<std::string> architecture_names() { return ArchitectureRegistry::global().names(); }

const ArchitectureEntry& architecture_entry(const std::string& name) { return ArchitectureRegistry::global().get(name); }

std::vector<config::Spec> architecture_option_sections() {
  std::vector<config::Spec> out;
  for (const ArchitectureEntry* e : ArchitectureRegistry::global().entries())
    if (!e->options.empty())
      out.push_back(config::only_when(config::section(e->name, "Options of the " + e->name + " architecture", e->options),
                                      "architecture", e->name));
  return out;
}

}  // namespace densemtl::models
