// The task registry: the six survey tasks in their canonical order.
#pragma once

#include <string>
#include <vector>

#include "densemtl/tasks/task.h"

namespace densemtl::tasks {

// All task names, canonical order: semseg, human_parts, sal, normals, edge, depth.
const std::vector<std::string>& names();
// The task called `name`; an unknown name is a densemtl::Error listing the known ones.
const Task& get(const std::string& name);
bool exists(const std::string& name);
// `names` validated, without duplicates, sorted into canonical order (the order that decides how
// task features are concatenated in multi-task architectures).
std::vector<std::string> canonical(const std::vector<std::string>& names);

}  // namespace densemtl::tasks
