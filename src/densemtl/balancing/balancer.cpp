#include "densemtl/balancing/balancer.h"

#include <cmath>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"

namespace densemtl::balancing {

namespace {

using BalancerRegistry = Registry<BalancerEntry>;

std::string shape_text(c10::IntArrayRef sizes) {
  std::vector<std::string> d;
  for (auto s : sizes) d.push_back(std::to_string(s));
  return "[" + join(d, ", ") + "]";
}

torch::Tensor flatten(const std::vector<torch::Tensor>& grads, const std::vector<torch::Tensor>& like) {
  std::vector<torch::Tensor> flat;
  for (std::size_t i = 0; i < grads.size(); ++i)
    flat.push_back(grads[i].defined() ? grads[i].reshape(-1) : torch::zeros({like[i].numel()}, like[i].options()));
  return torch::cat(flat);
}

}  // namespace

// Rows of per-task gradients on `inputs(t)`, and each task's gradients on `own(t)` (kept as they
// are, for parameters only that task reaches), from one autograd pass per task.
struct TaskGradients {
  torch::Tensor matrix;
  std::vector<std::vector<torch::Tensor>> own;
};

namespace {

TaskGradients task_gradients(const std::vector<torch::Tensor>& objectives,
                             const std::function<std::vector<torch::Tensor>(std::size_t)>& inputs,
                             const std::function<std::vector<torch::Tensor>(std::size_t)>& own) {
  TaskGradients out;
  std::vector<torch::Tensor> rows;
  for (std::size_t t = 0; t < objectives.size(); ++t) {
    std::vector<torch::Tensor> wrt = inputs(t);
    std::vector<torch::Tensor> mine = own ? own(t) : std::vector<torch::Tensor>{};
    std::vector<torch::Tensor> all = wrt;
    all.insert(all.end(), mine.begin(), mine.end());
    auto grads = torch::autograd::grad({objectives[t]}, all, {}, /*retain_graph=*/true, /*create_graph=*/false,
                                       /*allow_unused=*/true);
    rows.push_back(flatten(std::vector<torch::Tensor>(grads.begin(), grads.begin() + static_cast<std::ptrdiff_t>(wrt.size())), wrt));
    out.own.emplace_back(grads.begin() + static_cast<std::ptrdiff_t>(wrt.size()), grads.end());
  }
  out.matrix = torch::stack(rows);
  return out;
}

// Adds scale · g into .grad of each parameter (g undefined: nothing).
void add_scaled(const std::vector<torch::Tensor>& parameters, const std::vector<torch::Tensor>& grads, const torch::Tensor& scale) {
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    if (!grads[i].defined()) continue;
    torch::Tensor g = grads[i] * scale.to(grads[i].dtype());
    torch::Tensor p = parameters[i];
    if (p.mutable_grad().defined()) p.mutable_grad().add_(g);
    else p.mutable_grad() = g;
  }
}

}  // namespace

std::string mode_name(Mode mode) {
  switch (mode) {
    case Mode::Losses: return "losses";
    case Mode::Parameters: return "params";
    case Mode::Representation: return "rep";
  }
  return "?";
}

Balancer::Balancer(Setup setup) : setup_(std::move(setup)) {}

void Balancer::check(const models::ArchitectureImpl& model) const {
  if (mode() == Mode::Representation && !model.separable_representation())
    fail("balancer {} works on the shared representation (mode rep), but in the {} architecture the tasks do not read "
         "one shared representation independently; use its parameter mode (balancer.{}.mode: params) if it has one",
         name(), model.spec().architecture, name());
}

void Balancer::backward(const Losses& losses, Context& context) {
  if (losses.tasks() != tasks())
    fail("internal: balancer {} balances {}, the step has losses for {}", name(), join(tasks(), ", "), join(losses.tasks(), ", "));
  switch (mode()) {
    case Mode::Losses: objective(losses, context).backward(); break;
    case Mode::Parameters: backward_parameters(losses, context); break;
    case Mode::Representation: backward_representation(losses, context); break;
  }
  after_backward(context);
}

torch::Tensor Balancer::objective(const Losses& losses, Context& context) {
  torch::Tensor w = loss_weights(losses, context);
  show_weights(w);
  return losses.weighted_sum(w);
}

void Balancer::adam_step(torch::Tensor& x, torch::Tensor& m, torch::Tensor& v, torch::Tensor& steps, const torch::Tensor& grad,
                         double lr) {
  torch::NoGradGuard g;
  steps += 1;
  const double t = static_cast<double>(steps.item<std::int64_t>());
  m.mul_(0.9).add_(grad, 0.1);
  v.mul_(0.999).addcmul_(grad, grad, 0.001);
  torch::Tensor denom = (v.sqrt() / std::sqrt(1 - std::pow(0.999, t))).add_(1e-8);
  x.addcdiv_(m, denom, -lr / (1 - std::pow(0.9, t)));
}

void Balancer::show_weights(const torch::Tensor& weights) {
  torch::Tensor w = weights.detach().to(torch::kCPU, torch::kFloat64);
  for (std::size_t t = 0; t < tasks().size(); ++t) last_weights_[tasks()[t]] = w[static_cast<std::int64_t>(t)].item<double>();
}

torch::Tensor Balancer::gradient_matrix(const std::vector<torch::Tensor>& objectives,
                                        const std::function<std::vector<torch::Tensor>(std::size_t)>& inputs) {
  return task_gradients(objectives, inputs, nullptr).matrix;
}

torch::Tensor Balancer::combine_and_update_heads(const TaskGradients& g, const std::vector<std::vector<torch::Tensor>>& heads,
                                                 const Losses& losses, Context& context) {
  Combination c = combine(g.matrix, losses, context);
  if (!c.weights.defined()) {
    // A direction: each head gets its own task's ordinary gradient.
    for (std::size_t t = 0; t < heads.size(); ++t) add_scaled(heads[t], g.own[t], torch::ones({}, g.matrix.options()));
    return c.direction;
  }
  // Weights: every parameter gets the gradient of Σ α_t L_t.
  torch::Tensor alpha = c.weights.detach().to(g.matrix.dtype());
  show_weights(alpha);
  for (std::size_t t = 0; t < heads.size(); ++t) add_scaled(heads[t], g.own[t], alpha[static_cast<std::int64_t>(t)]);
  return c.direction.defined() ? c.direction : torch::matmul(alpha, g.matrix);
}

std::vector<std::vector<torch::Tensor>> Balancer::own_parameters(models::ArchitectureImpl& model, const Losses& losses) const {
  std::vector<std::vector<torch::Tensor>> own;
  for (const auto& t : losses.tasks()) {
    own.push_back(model.task_parameters(t));
    for (const auto& p : parameters()) own.back().push_back(p);  // the method's own, reached through its objectives
  }
  return own;
}

void Balancer::backward_parameters(const Losses& losses, Context& context) {
  models::ArchitectureImpl& model = context.model;
  std::vector<torch::Tensor> shared = model.shared_parameters();
  std::vector<std::vector<torch::Tensor>> heads = own_parameters(model, losses);
  TaskGradients g = task_gradients(
      objectives(losses, context), [&](std::size_t) { return shared; }, [&](std::size_t t) { return heads[t]; });
  add_gradient(shared, combine_and_update_heads(g, heads, losses, context));
}

void Balancer::backward_representation(const Losses& losses, Context& context) {
  models::ArchitectureImpl& model = context.model;
  const models::Representation& rep = context.output.representation;
  const std::vector<std::string>& task_names = losses.tasks();
  for (const auto& t : task_names)
    if (!rep.leaves.count(t))
      fail("internal: balancer {} needs the representation gradients of task '{}', but the {} architecture gave it no leaf "
           "(set_representation_gradients before the forward pass)", name(), t, model.spec().architecture);
  std::vector<std::vector<torch::Tensor>> heads = own_parameters(model, losses);
  TaskGradients g = task_gradients(
      objectives(losses, context), [&](std::size_t t) { return rep.leaves.at(task_names[t]); }, [&](std::size_t t) { return heads[t]; });
  torch::Tensor direction = combine_and_update_heads(g, heads, losses, context);
  // The combined representation gradient, back through the encoder once.
  std::vector<torch::Tensor> grads;
  std::int64_t offset = 0;
  for (const auto& z : rep.shared) {
    grads.push_back(direction.narrow(0, offset, z.numel()).view_as(z).to(z.dtype()));
    offset += z.numel();
  }
  if (offset != direction.numel())
    fail("internal: balancer {}: a direction of {} values for a representation of {}", name(), direction.numel(), offset);
  torch::autograd::backward(rep.shared, grads);
}

void Balancer::save(torch::serialize::OutputArchive& archive) const {
  for (const auto& p : state_->named_parameters()) archive.write(p.key(), p.value().detach().cpu());
  for (const auto& b : state_->named_buffers()) archive.write(b.key(), b.value().cpu(), /*is_buffer=*/true);
}

void Balancer::load(torch::serialize::InputArchive& archive, const std::string& where) {
  torch::NoGradGuard no_grad;
  auto read = [&](const std::string& key, torch::Tensor& target) {
    torch::Tensor value;
    if (!archive.try_read(key, value)) fail("{}: no state '{}' of balancer {}", where, key, name());
    if (target.numel() == 0 && value.numel() > 0) {
      // State sized on the first step (e.g. a gradient buffer as large as the shared parameters).
      target.set_data(value.to(target.device()).clone());
      return;
    }
    if (value.sizes() != target.sizes())
      fail("{}: balancer {} state '{}' is {} in the file, {} here", where, name(), key, shape_text(value.sizes()), shape_text(target.sizes()));
    target.copy_(value);
  };
  for (auto& p : state_->named_parameters()) read(p.key(), p.value());
  for (auto& b : state_->named_buffers()) read(b.key(), b.value());
  loaded();
}

config::Spec mode_option(const std::string& default_mode) {
  return config::choice("mode", default_mode, {"params", "rep"},
                        "params: per-task gradients on the shared parameters (T backward passes); rep: on the shared "
                        "representation (one encoder backward; architectures whose tasks read it independently)");
}

Mode read_mode(const config::View& options) { return options.get_string("mode") == "rep" ? Mode::Representation : Mode::Parameters; }

solvers::Matrix gram_matrix(const torch::Tensor& G) {
  torch::Tensor m = torch::matmul(G, G.t()).to(torch::kCPU, torch::kFloat64).contiguous();
  solvers::Matrix out(static_cast<int>(m.size(0)));
  std::copy(m.data_ptr<double>(), m.data_ptr<double>() + m.numel(), out.a.begin());
  return out;
}

torch::Tensor to_tensor(const solvers::Vector& v, const torch::Tensor& like) {
  return torch::tensor(v, torch::kFloat64).to(like.device(), like.scalar_type());
}

void add_gradient(const std::vector<torch::Tensor>& parameters, const torch::Tensor& flat) {
  torch::NoGradGuard no_grad;
  std::int64_t offset = 0;
  for (const auto& p : parameters) {
    torch::Tensor g = flat.narrow(0, offset, p.numel()).view_as(p).to(p.dtype());
    offset += p.numel();
    torch::Tensor param = p;
    if (param.mutable_grad().defined()) param.mutable_grad().add_(g);
    else param.mutable_grad() = g.clone();
  }
  if (offset != flat.numel()) fail("internal: a gradient of {} values for {} parameter values", flat.numel(), offset);
}

std::vector<std::string> balancer_names() { return BalancerRegistry::global().names(); }

const BalancerEntry& balancer_entry(const std::string& name) { return BalancerRegistry::global().get(name); }

std::vector<config::Spec> balancer_option_sections() {
  std::vector<config::Spec> out;
  for (const BalancerEntry* e : BalancerRegistry::global().entries())
    if (!e->options.empty())
      out.push_back(config::only_when(config::section(e->name, "Options of the " + e->name + " balancer", e->options), "name", e->name));
  return out;
}

std::unique_ptr<Balancer> make_balancer(const std::string& name, const Setup& setup) {
  const BalancerEntry& entry = balancer_entry(name);
  if (setup.options.bound() || entry.options.empty()) return entry.make(setup);
  Setup with_defaults = setup;
  with_defaults.options = config::defaults("balancer." + name, entry.options);
  return entry.make(with_defaults);
}

}  // namespace densemtl::balancing
