// GradNorm. Chen et al., "GradNorm: Gradient Normalization for Adaptive Loss Balancing in Deep
// Multitask Networks", ICML 2018, Algorithm 1.
//
// Learned task weights w (1 at the start), on a chosen shared layer W:
//   G_t = |∇_W w_t L_t|,  Ḡ = mean_t G_t,  L̃_t = L_t / L_t(0),  r_t = L̃_t / mean L̃
//   L_grad = Σ_t |G_t − Ḡ r_t^α|   (Ḡ r^α held constant);  w gets ∇_w L_grad
//   the network gets the gradient of Σ_t w_t L_t;  after the step, w ← T w / Σ w
// α = 1.5 (the paper's NYUv2 value). W: the last shared weight tensor (mode: params, the paper's
// choice; `layer` picks another by name) or the shared representation (mode: rep, cheaper).
// L(0) are the losses of the first step; w, L(0) are checkpointed (w also in the optimizer).
#include <cmath>

#include "densemtl/balancing/balancer.h"
#include "densemtl/core/collective.h"
#include "densemtl/core/strings.h"

namespace densemtl::balancing {

namespace {

class GradNorm : public Balancer {
 public:
  explicit GradNorm(const Setup& setup)
      : Balancer(setup), alpha_(options().get_float("alpha")), on_representation_(options().get_string("mode") == "rep"),
        layer_(options().get_string("layer")) {
    const auto t = static_cast<std::int64_t>(tasks().size());
    weights_ = task_parameter("weights", torch::ones({t}));
    initial_ = task_buffer("initial_losses", torch::zeros({t}, torch::kFloat64));
  }
  std::string name() const override { return "gradnorm"; }
  Mode mode() const override { return Mode::Losses; }

  void after_step(Context&) override {
    torch::NoGradGuard g;
    weights_.clamp_(1e-6);
    weights_.mul_(static_cast<double>(weights_.numel()) / weights_.sum());
  }

 protected:
  torch::Tensor objective(const Losses& losses, Context& context) override {
    std::vector<torch::Tensor> l = losses.objectives();
    torch::Tensor values = torch::stack(l).detach().to(torch::kFloat64);
    // L_t(0): each task's loss at its first (labelled) step.
    initial_.copy_(torch::where(initial_.eq(0), values.to(initial_.device()), initial_));
    // |∇_W L_t| per task.
    std::vector<torch::Tensor> wrt = on_representation_ ? context.output.representation.shared : std::vector<torch::Tensor>{layer(context.model)};
    std::vector<torch::Tensor> rows;
    for (const auto& loss : l) {
      auto grads = torch::autograd::grad({loss}, wrt, {}, /*retain_graph=*/true, false, /*allow_unused=*/true);
      std::vector<torch::Tensor> flat;
      for (std::size_t i = 0; i < grads.size(); ++i)
        flat.push_back(grads[i].defined() ? grads[i].reshape(-1).to(torch::kCPU, torch::kFloat64)
                                          : torch::zeros({wrt[i].numel()}, torch::kFloat64));
      rows.push_back(torch::cat(flat));
    }
    torch::Tensor n;
    if (!world()) {
      n = torch::stack(rows).pow(2).sum(1).sqrt();
    } else if (on_representation_) {
      // Several processes, each with its samples' part of z: the squared norms add up.
      n = torch::stack(rows).pow(2).sum(1);
      world()->all_reduce_sum(n);
      n = n.sqrt();
    } else {
      // Each process's gradient on W is that of its share of the loss: they add up.
      torch::Tensor g = torch::stack(rows);
      world()->all_reduce_sum(g);
      n = g.pow(2).sum(1).sqrt();
    }
    torch::Tensor w = weights_.detach().to(torch::kCPU, torch::kFloat64);
    torch::Tensor G = w * n;
    torch::Tensor ratio = values.to(torch::kCPU) / initial_.to(torch::kCPU).clamp_min(1e-20);
    torch::Tensor target = G.mean() * torch::pow(ratio / ratio.mean(), alpha_);
    // ∂/∂w_t Σ_s |w_s n_s − target_s| = sign(w_t n_t − target_t) n_t
    torch::Tensor grad = torch::sign(G - target) * n;
    weights_.mutable_grad() = grad.to(weights_.device(), weights_.scalar_type());
    show_weights(w);
    return losses.weighted_sum(weights_.detach());
  }

 private:
  torch::Tensor layer(models::ArchitectureImpl& model) const {
    torch::Tensor chosen;
    std::set<const void*> shared;
    for (const auto& p : model.shared_parameters()) shared.insert(p.unsafeGetTensorImpl());
    for (const auto& p : model.named_parameters()) {
      if (!shared.count(p.value().unsafeGetTensorImpl()) || p.value().dim() < 2) continue;
      if (!layer_.empty() && p.key().find(layer_) == std::string::npos) continue;
      chosen = p.value();
    }
    if (!chosen.defined())
      fail("balancer.gradnorm.layer: no shared weight tensor of the {} model matches '{}'", model.spec().architecture, layer_);
    return chosen;
  }

  double alpha_;
  bool on_representation_;
  std::string layer_;
  torch::Tensor weights_, initial_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"gradnorm", 40, "GradNorm (Chen et al. 2018): learned weights equalising gradient norms on a shared layer",
                                  balancer<GradNorm>,
                                  {config::real("alpha", 1.5, 0.0, 100.0, "Asymmetry α (the paper: 1.5 on NYUv2)"),
                                   config::choice("mode", "params", {"params", "rep"}, "params: a shared weight tensor (the paper); rep: the shared representation"),
                                   config::text("layer", "", "With mode params: the last shared weight tensor whose name contains this (empty: the last)")}});

}  // namespace densemtl::balancing
