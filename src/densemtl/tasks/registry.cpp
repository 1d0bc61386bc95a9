#include "densemtl/tasks/registry.h"

#include <algorithm>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"

namespace densemtl::tasks {

namespace {

using TaskRegistry = Registry<TaskEntry>;

// One default-configured instance per registered task.
const std::map<std::string, std::unique_ptr<Task>>& defaults() {
  static const std::map<std::string, std::unique_ptr<Task>> tasks = [] {
    std::map<std::string, std::unique_ptr<Task>> m;
    for (const TaskEntry* e : TaskRegistry::global().entries()) {
      auto t = e->make();
      if (t->name() != e->name) fail("internal: task registered as '{}' calls itself '{}'", e->name, t->name());
      m[e->name] = std::move(t);
    }
    return m;
  }();
  return tasks;
}

}  // namespace

const std::vector<std::string>& names() {
  static const std::vector<std::string> all = TaskRegistry::global().names();
  return all;
}

bool exists(const std::string& name) { return TaskRegistry::global().has(name); }

const Task& get(const std::string& name) {
  TaskRegistry::global().get(name);  // an unknown name fails here, with the known ones
  return *defaults().at(name);
}

std::vector<std::string> canonical(const std::vector<std::string>& requested) {
  for (const auto& n : requested) get(n);
  std::vector<std::string> out;
  for (const auto& n : names())
    if (std::find(requested.begin(), requested.end(), n) != requested.end()) out.push_back(n);
  return out;
}

std::vector<config::Spec> option_sections() {
  std::vector<config::Spec> out;
  for (const auto& n : names()) {
    std::vector<config::Spec> keys = get(n).option_specs();
    if (keys.empty()) continue;
    out.push_back(config::only_when_listed(config::section(n, "Options of the " + n + " task", std::move(keys)),
                                           {"main", "aux"}, n));
  }
  return out;
}

std::shared_ptr<const config::Config> task_options(const std::string& yaml, const std::string& source) {
  static const config::Spec schema = [] {
    std::vector<config::Spec> sections;
    for (const auto& n : names()) sections.push_back(config::section(n, "", get(n).option_specs()));
    return config::section("", "", {config::section("tasks", "", sections)});
  }();
  return std::make_shared<const config::Config>(config::Config::parse(schema, yaml, source));
}

TaskSet::TaskSet(const std::vector<std::string>& requested, const config::Config* config) : names_(canonical(requested)) {
  for (const auto& n : names_) {
    std::unique_ptr<Task> t = TaskRegistry::global().get(n).make();
    if (config && config->has("tasks." + n)) t->configure(config::View(*config, "tasks." + n));
    tasks_[n] = std::move(t);
  }
}

const Task& TaskSet::at(const std::string& name) const {
  auto it = tasks_.find(name);
  if (it == tasks_.end()) fail("task '{}' is not among this experiment's tasks ({})", name, join(names_, ", "));
  return *it->second;
}

}  // namespace densemtl::tasks
