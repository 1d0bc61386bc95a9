#include "densemtl/tasks/registry.h"

#include <algorithm>
#include <map>
#include <memory>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"

namespace densemtl::tasks {

// The registration list, in canonical order. A new task: one file defining make_task_<name>(),
// and one line here.
#define DENSEMTL_TASKS(X) \
  X(semseg)               \
  X(human_parts)          \
  X(sal)                  \
  X(normals)              \
  X(edge)                 \
  X(depth)

#define DENSEMTL_DECLARE_TASK(n) std::unique_ptr<Task> make_task_##n();
DENSEMTL_TASKS(DENSEMTL_DECLARE_TASK)
#undef DENSEMTL_DECLARE_TASK

namespace {

struct Registry {
  std::vector<std::string> names;
  std::map<std::string, std::unique_ptr<Task>> tasks;
  Registry() {
#define DENSEMTL_ADD_TASK(n) add(make_task_##n());
    DENSEMTL_TASKS(DENSEMTL_ADD_TASK)
#undef DENSEMTL_ADD_TASK
  }
  void add(std::unique_ptr<Task> task) {
    names.push_back(task->name());
    tasks[task->name()] = std::move(task);
  }
};

const Registry& registry() {
  static const Registry r;
  return r;
}

}  // namespace

const std::vector<std::string>& names() { return registry().names; }

bool exists(const std::string& name) { return registry().tasks.count(name) > 0; }

const Task& get(const std::string& name) {
  auto it = registry().tasks.find(name);
  if (it == registry().tasks.end()) {
    std::string hint = closest(name, names());
    fail("unknown task '{}'{} (known tasks: {})", name, hint.empty() ? "" : " (did you mean '" + hint + "'?)",
         join(names(), ", "));
  }
  return *it->second;
}

std::vector<std::string> canonical(const std::vector<std::string>& requested) {
  for (const auto& n : requested) get(n);
  std::vector<std::string> out;
  for (const auto& n : names())
    if (std::find(requested.begin(), requested.end(), n) != requested.end()) out.push_back(n);
  return out;
}

}  // namespace densemtl::tasks
