#include "densemtl/train/step.h"

#include <algorithm>
#include <cmath>

#include "densemtl/core/device.h"
#include "densemtl/core/error.h"
#include "densemtl/train/optim.h"
#include "densemtl/models/layers.h"

namespace densemtl::train {

Forward forward_losses(models::ArchitectureImpl& model, const torch::Tensor& image,
                       const std::map<std::string, torch::Tensor>& labels, const StepSetup& s,
                       const std::set<std::string>& unlabelled) {
  Forward f;
  {
    Autocast autocast(s.amp, s.device);
    f.out = model.forward(image);
  }
  for (const auto& t : s.main)
    f.losses.add_main(t, s.tasks->at(t).loss(f.out.tasks.at(t).to(torch::kFloat32), labels.at(t).to(s.device, true)));
  for (const auto& aux : f.out.aux) {
    torch::Tensor up = models::upsample(aux.value.to(torch::kFloat32), image.size(2), image.size(3));
    f.losses.add_auxiliary(aux.name, aux.task, s.tasks->at(aux.task).loss(up, labels.at(aux.task).to(s.device, true)));
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
  std::vector<torch::Tensor> params, reg_grads;
  if (!f.out.regularizers.empty()) {
    torch::Tensor reg = f.out.regularizers.front().second;
    for (std::size_t i = 1; i < f.out.regularizers.size(); ++i) reg = reg + f.out.regularizers[i].second;
    if (!std::isfinite(reg.item<double>())) throw NonFiniteLoss(f.out.regularizers.front().first, reg.item<double>());
    for (const auto& p : model.parameters())
      if (p.requires_grad()) params.push_back(p);
    reg_grads = torch::autograd::grad({reg}, params, {}, /*retain_graph=*/true, /*create_graph=*/false, /*allow_unused=*/true);
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
