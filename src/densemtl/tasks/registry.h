// The task registry: the survey's six tasks in their canonical order (the order that decides how
// task outputs are listed and how task features are concatenated in multi-task architectures).
// A task file ends with its registration line:
//
//   DENSEMTL_REGISTER(tasks::TaskEntry, {"depth", 60, [] { return std::make_unique<Depth>(); }});
//
// (`order` places it in the canonical order: semseg 10, human_parts 20, sal 30, normals 40,
// edge 50, depth 60.)
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "densemtl/core/config.h"
#include "densemtl/core/registry.h"
#include "densemtl/tasks/task.h"

namespace densemtl::tasks {

struct TaskEntry {
  std::string name;
  int order = 0;
  std::function<std::unique_ptr<Task>()> make;
  static const char* kind() { return "task"; }
};

// All task names, canonical order: semseg, human_parts, sal, normals, edge, depth.
const std::vector<std::string>& names();
// The task called `name` with its default options; an unknown name is a densemtl::Error listing
// the known ones.
const Task& get(const std::string& name);
bool exists(const std::string& name);
// `names` validated, without duplicates, sorted into canonical order.
std::vector<std::string> canonical(const std::vector<std::string>& names);
// The config section of every task's own options, each applying when the task is in
// tasks.main or tasks.aux (for the experiment schema).
std::vector<config::Spec> option_sections();

// Options of any task from YAML text ("tasks: {edge: {max_dist: 0.01}}"), validated against every
// task's option schema, for configuring tasks outside an experiment (evaluate --dataset).
std::shared_ptr<const config::Config> task_options(const std::string& yaml, const std::string& source);

// The tasks of one experiment, each configured from its section tasks.<name>, canonical order.
class TaskSet {
 public:
  TaskSet() = default;
  // With `config` null, every task keeps its default options.
  TaskSet(const std::vector<std::string>& names, const config::Config* config);
  const std::vector<std::string>& names() const { return names_; }
  bool has(const std::string& name) const { return tasks_.count(name) > 0; }
  // The configured task; a name outside the set is an error naming the set.
  const Task& at(const std::string& name) const;
  bool empty() const { return names_.empty(); }
  std::size_t size() const { return names_.size(); }

 private:
  std::vector<std::string> names_;
  std::map<std::string, std::shared_ptr<const Task>> tasks_;
};

}  // namespace densemtl::tasks
