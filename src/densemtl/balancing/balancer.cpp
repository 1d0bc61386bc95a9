#include "densemtl/balancing/balancer.h"

#include "densemtl/core/error.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::balancing {

torch::Tensor Balancer::task_gradients(const std::map<std::string, torch::Tensor>& losses,
                                       const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> rows;
  for (const auto& [task, loss] : losses) {
    auto grads = torch::autograd::grad({loss}, parameters, {}, /*retain_graph=*/true, /*create_graph=*/false,
                                       /*allow_unused=*/true);
    std::vector<torch::Tensor> flat;
    for (std::size_t i = 0; i < grads.size(); ++i)
      flat.push_back(grads[i].defined() ? grads[i].reshape(-1) : torch::zeros({parameters[i].numel()}, parameters[i].options()));
    rows.push_back(torch::cat(flat));
  }
  return torch::stack(rows);
}

torch::Tensor Balancer::representation_gradients(const std::map<std::string, torch::Tensor>& losses,
                                                 const models::Features& representation) {
  std::vector<torch::Tensor> rows;
  for (const auto& [task, loss] : losses) {
    auto grads = torch::autograd::grad({loss}, representation, {}, true, false, true);
    std::vector<torch::Tensor> flat;
    for (std::size_t i = 0; i < grads.size(); ++i)
      flat.push_back(grads[i].defined() ? grads[i].reshape(-1) : torch::zeros({representation[i].numel()}, representation[i].options()));
    rows.push_back(torch::cat(flat));
  }
  return torch::stack(rows);
}

void Balancer::add_gradient(const std::vector<torch::Tensor>& parameters, const torch::Tensor& flat) {
  torch::NoGradGuard no_grad;
  std::int64_t offset = 0;
  for (const auto& p : parameters) {
    torch::Tensor g = flat.narrow(0, offset, p.numel()).view_as(p);
    offset += p.numel();
    if (p.mutable_grad().defined()) p.mutable_grad().add_(g);
    else p.mutable_grad() = g.clone();
  }
}

Options options_from_config(const config::Config& cfg) {
  Options o;
  o.name = cfg.get_string("balancer.name");
  o.tasks = tasks::canonical(cfg.get_string_list("tasks.main"));
  auto aux = cfg.get_string_list("tasks.aux");
  for (const auto& a : tasks::canonical(aux))
    if (std::find(o.tasks.begin(), o.tasks.end(), a) == o.tasks.end()) o.tasks.push_back(a);
  o.weights = cfg.get_float_map("tasks.loss_weights");
  return o;
}

}  // namespace densemtl::balancing
