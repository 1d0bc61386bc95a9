#include "densemtl/balancing/losses.h"

#include <algorithm>

#include "densemtl/core/error.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::balancing {

void Losses::add_main(const std::string& task, torch::Tensor value) {
  for (const auto& t : terms_) {
    if (t.auxiliary) fail("internal: main loss '{}' added after auxiliary terms", task);
    if (t.task == task) fail("internal: main loss '{}' added twice", task);
  }
  terms_.push_back({task, task, false, std::move(value)});
  std::vector<std::string> all = tasks_;
  all.push_back(task);
  std::vector<std::string> ordered = tasks::canonical(all);
  if (ordered.back() != task && std::find(tasks_.begin(), tasks_.end(), task) == tasks_.end())
    fail("internal: main loss '{}' added out of canonical order", task);
  tasks_ = ordered;
}

void Losses::add_auxiliary(const std::string& name, const std::string& task, torch::Tensor value) {
  terms_.push_back({task, name, true, std::move(value)});
  std::vector<std::string> all = tasks_;
  all.push_back(task);
  tasks_ = tasks::canonical(all);
}

torch::Tensor Losses::main(const std::string& task) const {
  for (const auto& t : terms_)
    if (!t.auxiliary && t.task == task) return t.value;
  return {};
}

std::vector<torch::Tensor> Losses::objectives() const {
  std::vector<torch::Tensor> out;
  for (const auto& task : tasks_) {
    torch::Tensor sum;
    for (const auto& t : terms_)
      if (t.task == task) sum = sum.defined() ? sum + t.value : t.value;
    out.push_back(sum);
  }
  return out;
}

std::size_t Losses::index(const std::string& task) const {
  auto it = std::find(tasks_.begin(), tasks_.end(), task);
  if (it == tasks_.end()) fail("internal: no loss term for task '{}'", task);
  return static_cast<std::size_t>(it - tasks_.begin());
}

torch::Tensor Losses::weighted_sum(const std::vector<double>& weights) const {
  if (weights.size() != tasks_.size()) fail("internal: {} weights for {} tasks", weights.size(), tasks_.size());
  torch::Tensor total;
  for (const auto& t : terms_) {
    torch::Tensor term = t.value * weights[index(t.task)];
    total = total.defined() ? total + term : term;
  }
  return total;
}

torch::Tensor Losses::weighted_sum(const torch::Tensor& weights) const {
  if (weights.numel() != static_cast<std::int64_t>(tasks_.size()))
    fail("internal: {} weights for {} tasks", weights.numel(), tasks_.size());
  torch::Tensor total;
  for (const auto& t : terms_) {
    torch::Tensor term = t.value * weights[static_cast<std::int64_t>(index(t.task))].to(t.value.dtype());
    total = total.defined() ? total + term : term;
  }
  return total;
}

void Losses::set_unlabelled(const std::string& task) {
  if (!labelled(task)) return;
  unlabelled_.push_back(task);
}

bool Losses::labelled(const std::string& task) const {
  return std::find(unlabelled_.begin(), unlabelled_.end(), task) == unlabelled_.end();
}

std::vector<std::string> Losses::labelled_tasks() const {
  std::vector<std::string> out;
  for (const auto& t : tasks_)
    if (labelled(t)) out.push_back(t);
  return out;
}

Losses Losses::restricted(const std::vector<std::string>& subset) const {
  Losses out;
  for (const auto& term : terms_) {
    if (std::find(subset.begin(), subset.end(), term.task) == subset.end()) continue;
    if (term.auxiliary) out.add_auxiliary(term.name, term.task, term.value);
    else out.add_main(term.task, term.value);
  }
  for (const auto& t : unlabelled_)
    if (std::find(subset.begin(), subset.end(), t) != subset.end()) out.unlabelled_.push_back(t);
  return out;
}

Losses::Values Losses::values() const {
  std::vector<torch::Tensor> all;
  for (const auto& t : terms_) all.push_back(t.value.detach().to(torch::kFloat64).reshape({}));
  torch::Tensor host = torch::stack(all).to(torch::kCPU);
  Values v;
  for (std::size_t i = 0; i < terms_.size(); ++i) {
    double x = host[static_cast<std::int64_t>(i)].item<double>();
    v.per_term.push_back(x);
    if (labelled(terms_[i].task)) v.per_task[terms_[i].task] += x;
  }
  return v;
}

}  // namespace densemtl::balancing
