#include "densemtl/train/step.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "densemtl/core/collective.h"
#include "densemtl/core/device.h"
#include "densemtl/core/error.h"
#include "densemtl/train/optim.h"
#include "densemtl/models/layers.h"
#include "densemtl/tasks/losses.h"
#include "densemtl/train/gradient_sync.h"

namespace densemtl::train {

namespace {

// Several processes: every term gets the global value (the sum of the processes' shares) with
// its share's gradient, and a task is unlabelled when it is so on every process; one sum for all.
balancing::Losses global_losses(const balancing::Losses& local, const std::set<std::string>& unlabelled) {
  const auto& terms = local.terms();
  const auto& task_names = local.tasks();
  std::vector<torch::Tensor> parts;
  for (const auto& term : terms) parts.push_back(term.value.detach().to(torch::kFloat64).reshape({1}));
  std::vector<double> labelled;
  for (const auto& t : task_names) labelled.push_back(unlabelled.count(t) ? 0.0 : 1.0);
  parts.push_back(torch::tensor(labelled, torch::kFloat64).to(parts.empty() ? torch::Device(torch::kCPU) : parts[0].device()));
  torch::Tensor sums = torch::cat(parts).cpu().contiguous();
  world()->all_reduce_sum(sums);
  balancing::Losses out;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    const auto& term = terms[i];
    torch::Tensor value = term.value + (sums[static_cast<std::int64_t>(i)].to(term.value.device(), term.value.scalar_type()) - term.value.detach());
    if (term.auxiliary) out.add_auxiliary(term.name, term.task, value);
    else out.add_main(term.task, value);
  }
  for (std::size_t t = 0; t < task_names.size(); ++t)
    if (sums[static_cast<std::int64_t>(terms.size() + t)].item<double>() == 0.0) out.set_unlabelled(task_names[t]);
  return out;
}

}  // namespace

Forward forward_losses(models::ArchitectureImpl& model, const torch::Tensor& image,
                       const std::map<std::string, torch::Tensor>& labels, const StepSetup& s,
                       const std::set<std::string>& unlabelled) {
  Forward f;
  {
    Autocast autocast(s.amp, s.device);
    f.out = model.forward(image);
  }
  const bool several = world() && world()->size() > 1;
  std::optional<tasks::GlobalBatch> global;
  if (several) global.emplace();
  for (const auto& t : s.main)
    f.losses.add_main(t, s.tasks->at(t).loss(f.out.tasks.at(t).to(torch::kFloat32), labels.at(t).to(s.device, true)));
  for (const auto& aux : f.out.aux) {
    torch::Tensor up = models::upsample(aux.value.to(torch::kFloat32), image.size(2), image.size(3));
    f.losses.add_auxiliary(aux.name, aux.task, s.tasks->at(aux.task).loss(up, labels.at(aux.task).to(s.device, true)));
  }
  if (several) {
    f.losses = global_losses(f.losses, unlabelled);
    return f;
  }
  for (const auto& t : unlabelled)
    if (std::find(f.losses.tasks().begin(), f.losses.tasks().end(), t) != f.losses.tasks().end()) f.losses.set_unlabelled(t);
  return f;
}

balancing::Losses::Values train_step(models::ArchitectureImpl& model, balancing::Balancer& balancer,
                                     torch::optim::Optimizer& optimizer, const torch::Tensor& image,
                                     const std::map<std::string, torch::Tensor>& labels, const StepSetup& setup, int epoch,
                                     std::int64_t step, const std::set<std::string>& unlabelled) {
  model.set_representation_gradients(balancer.mode() == balancing::Mode::Representation);
  Forward f = forward_losses(model, image, labels, setup, unlabelled);
  balancing::Losses::Values values = f.losses.values();
  for (std::size_t i = 0; i < values.per_term.size(); ++i)
    if (!std::isfinite(values.per_term[i])) throw NonFiniteLoss(f.losses.terms()[i].name, values.per_term[i]);
  optimizer.zero_grad();
  balancing::Context context{model, f.out, epoch, step, nullptr};
  context.learning_rate = learning_rate(optimizer);
  context.recompute_losses = [&] {
    torch::NoGradGuard no_grad;
    return forward_losses(model, image, labels, setup, unlabelled).losses;
  };
  if (balancer.needs_validation_batches()) {
    if (!setup.validation_batch) fail("balancer {} needs validation batches during training, and this run has none", balancer.name());
    context.validation_losses = [&] {
      auto [x, y] = setup.validation_batch();
      return forward_losses(model, x, y, setup).losses;
    };
  }
  // The architecture's regularisers join the objective unbalanced: their gradients are taken
  // first (the balancer may free the graph) and added to whatever the balancer leaves in .grad.
  // Several processes: each process's regulariser is of its part of the batch; their mean joins.
  std::vector<torch::Tensor> params, reg_grads;
  if (!f.out.regularizers.empty()) {
    torch::Tensor reg = f.out.regularizers.front().second;
    for (std::size_t i = 1; i < f.out.regularizers.size(); ++i) reg = reg + f.out.regularizers[i].second;
    torch::Tensor value = reg.detach().to(torch::kCPU, torch::kFloat64).reshape({1}).clone();
    if (setup.sync) world()->all_reduce_sum(value);
    if (!std::isfinite(value.item<double>())) throw NonFiniteLoss(f.out.regularizers.front().first, value.item<double>());
    for (const auto& p : model.parameters())
      if (p.requires_grad()) params.push_back(p);
    reg_grads = torch::autograd::grad({reg}, params, {}, /*retain_graph=*/true, /*create_graph=*/false, /*allow_unused=*/true);
    if (setup.sync) {
      for (std::size_t i = 0; i < reg_grads.size(); ++i)
        reg_grads[i] = reg_grads[i].defined() ? reg_grads[i].contiguous() : torch::zeros_like(params[i]);
      world()->all_reduce_sum(reg_grads);
      for (auto& g : reg_grads) g.div_(world()->size());
    }
  }
  if (setup.sync) {
    setup.sync->arm();
    context.reduce_gradients = [&model, &setup](balancing::Mode mode) {
      std::set<const void*> skip;
      if (mode == balancing::Mode::Parameters)
        for (const auto& p : model.shared_parameters()) skip.insert(p.unsafeGetTensorImpl());
      setup.sync->reduce(skip);
    };
  }
  if (!balancer.backward(f.losses, context)) return values;  // nothing labelled: no update
  for (std::size_t i = 0; i < reg_grads.size(); ++i) {
    if (!reg_grads[i].defined()) continue;
    torch::Tensor& g = params[i].mutable_grad();
    g = g.defined() ? g + reg_grads[i] : reg_grads[i];
  }
  optimizer.step();
  balancer.finish_step(context);
  return values;
}

}  // namespace densemtl::train
