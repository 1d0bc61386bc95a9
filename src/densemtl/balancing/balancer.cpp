#include "densemtl/balancing/balancer.h"

#include <algorithm>
#include <cmath>

#include "densemtl/core/collective.h"
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

// The positions of `subset` in `all`, as an index tensor on `device`.
torch::Tensor positions(const std::vector<std::string>& all, const std::vector<std::string>& subset, const torch::Device& device) {
  std::vector<std::int64_t> out;
  for (const auto& t : subset) {
    auto it = std::find(all.begin(), all.end(), t);
    if (it == all.end()) fail("internal: no task '{}' among {}", t, join(all, ", "));
    out.push_back(static_cast<std::int64_t>(it - all.begin()));
  }
  return torch::tensor(out, torch::TensorOptions().dtype(torch::kLong).device(device));
}

// Whether `t` holds `n` slices along every task dimension in `dims` (not: sized on a later step).
bool task_sized(const torch::Tensor& t, const std::vector<std::int64_t>& dims, std::int64_t n) {
  if (t.dim() <= dims.back()) return false;
  for (auto d : dims)
    if (t.size(d) != n) return false;
  return true;
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

bool Balancer::backward(const Losses& losses, Context& context) {
  if (losses.tasks() != tasks())
    fail("internal: balancer {} balances {}, the step has losses for {}", name(), join(tasks(), ", "), join(losses.tasks(), ", "));
  std::vector<std::string> labelled = losses.labelled_tasks();
  if (labelled.empty()) {
    last_labelled_ = {};
    skipped_ = true;
    return false;
  }
  skipped_ = false;
  const bool partial = labelled.size() != tasks().size();
  last_labelled_ = partial ? labelled : std::vector<std::string>{};
  if (!partial) {
    run_backward(losses, context);
    return true;
  }
  narrow(labelled);
  try {
    Context narrowed = narrowed_context(context);
    run_backward(losses.restricted(labelled), narrowed);
  } catch (...) {
    widen();
    throw;
  }
  widen();
  // The unlabelled tasks' own parameters get no gradient at all (not a zero one), so that the
  // optimizer leaves them alone, momentum included.
  for (const auto& t : tasks())
    if (!losses.labelled(t))
      for (auto& p : context.model.task_parameters(t)) p.mutable_grad() = torch::Tensor();
  return true;
}

void Balancer::run_backward(const Losses& losses, Context& context) {
  switch (mode()) {
    case Mode::Losses: objective(losses, context).backward(); break;
    case Mode::Parameters: backward_parameters(losses, context); break;
    case Mode::Representation: backward_representation(losses, context); break;
  }
  if (context.reduce_gradients) context.reduce_gradients(mode());
  after_backward(context);
}

void Balancer::finish_step(Context& context) {
  if (skipped_) return;
  if (last_labelled_.empty()) {
    after_step(context);
    return;
  }
  narrow(last_labelled_);
  try {
    Context narrowed = narrowed_context(context);
    after_step(narrowed);
  } catch (...) {
    widen();
    throw;
  }
  widen();
}

Context Balancer::narrowed_context(Context& context) const {
  Context c = context;
  const std::vector<std::string> subset = active_;
  if (context.recompute_losses) c.recompute_losses = [&context, subset] { return context.recompute_losses().restricted(subset); };
  if (context.validation_losses) c.validation_losses = [&context, subset] { return context.validation_losses().restricted(subset); };
  return c;
}

torch::Tensor Balancer::task_buffer(const std::string& name, torch::Tensor value, std::vector<std::int64_t> task_dims) {
  if (task_dims.empty() || task_dims.size() > 2 || (task_dims.size() == 2 && (task_dims[0] != 0 || task_dims[1] != 1)))
    fail("internal: balancer state '{}': task dimensions must be one dimension or {{0, 1}}", name);
  torch::Tensor t = state_->register_buffer(name, std::move(value));
  task_state_.push_back({t, std::move(task_dims), false, {}, {}});
  return t;
}

torch::Tensor Balancer::task_parameter(const std::string& name, torch::Tensor value) {
  torch::Tensor t = state_->register_parameter(name, std::move(value));
  task_state_.push_back({t, {0}, true, {}, {}});
  return t;
}

void Balancer::narrow(const std::vector<std::string>& labelled) {
  torch::NoGradGuard no_grad;
  const auto T = static_cast<std::int64_t>(setup_.tasks.size());
  for (auto& s : task_state_) {
    torch::Tensor full = s.tensor.detach();
    s.full = full;
    s.full_grad = s.parameter ? s.tensor.grad() : torch::Tensor();
    if (!task_sized(full, s.dims, T)) {
      // Not sized yet (the method sizes it on its first step): the method sees it as it is.
      s.full = torch::Tensor();
      continue;
    }
    torch::Tensor index = positions(setup_.tasks, labelled, full.device());
    torch::Tensor part = full;
    for (auto d : s.dims) part = part.index_select(d, index);
    if (s.parameter) s.tensor.mutable_grad() = torch::Tensor();
    s.tensor.set_data(part);
  }
  active_ = labelled;
  narrowed_ = true;
}

void Balancer::widen() {
  torch::NoGradGuard no_grad;
  const auto T = static_cast<std::int64_t>(setup_.tasks.size());
  const auto P = static_cast<std::int64_t>(active_.size());
  for (auto& s : task_state_) {
    torch::Tensor part = s.tensor.detach();
    torch::Tensor full = s.full;
    if (!full.defined()) {
      // Sized during the step for the labelled tasks: the others' slices start at zero.
      if (!task_sized(part, s.dims, P)) continue;
      std::vector<std::int64_t> shape = part.sizes().vec();
      for (auto d : s.dims) shape[static_cast<std::size_t>(d)] = T;
      full = torch::zeros(shape, part.options());
    }
    torch::Tensor index = positions(setup_.tasks, active_, full.device());
    if (s.dims.size() == 1) full.index_copy_(s.dims[0], index, part);
    else full.index_put_({index.unsqueeze(1), index.unsqueeze(0)}, part);
    if (s.parameter) {
      torch::Tensor grad = s.tensor.grad();
      torch::Tensor full_grad = s.full_grad;
      if (grad.defined()) {
        if (!full_grad.defined()) full_grad = torch::zeros_like(full);
        full_grad.index_add_(0, index, grad);
      }
      s.tensor.set_data(full);
      s.tensor.mutable_grad() = full_grad;
    } else {
      s.tensor.set_data(full);
    }
    s.full = s.full_grad = torch::Tensor();
  }
  narrowed_ = false;
  active_.clear();
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
  m.mul_(0.9).add_(grad, 0.1);
  v.mul_(0.999).addcmul_(grad, grad, 0.001);
  if (steps.dim() == 0) {
    const double t = static_cast<double>(steps.item<std::int64_t>());
    torch::Tensor denom = (v.sqrt() / std::sqrt(1 - std::pow(0.999, t))).add_(1e-8);
    x.addcdiv_(m, denom, -lr / (1 - std::pow(0.9, t)));
    return;
  }
  // One step count per element (per task): the same update with each element's bias corrections.
  torch::Tensor t = steps.to(x.scalar_type());
  torch::Tensor denom = (v.sqrt() / torch::sqrt(1 - torch::pow(0.999, t))).add_(1e-8);
  x.addcdiv_(m, denom * (1 - torch::pow(0.9, t)), -lr);
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
  // Several processes: each row is the gradient of the process's share of the loss; G is their sum.
  if (world()) world()->all_reduce_sum(g.matrix);
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
  if (world() && world()->size() > 1) {
    // Several processes: each holds its samples' columns of G. The method sees the whole batch's
    // G and z (the processes' columns in rank order, tensor by tensor, as one process would have
    // them), and each process takes back its own columns of the direction.
    const int n = world()->size(), me = world()->rank();
    std::vector<torch::Tensor> blocks, gathered_z;
    std::vector<std::int64_t> sizes;
    std::int64_t offset = 0;
    for (const auto& z : rep.shared) {
      std::vector<torch::Tensor> parts = world()->all_gather(g.matrix.narrow(1, offset, z.numel()).contiguous());
      blocks.push_back(torch::cat(parts, 1));
      gathered_z.push_back(torch::cat(world()->all_gather(z.detach().contiguous()), 0));
      sizes.push_back(z.numel());
      offset += z.numel();
    }
    TaskGradients whole{torch::cat(blocks, 1), g.own};
    models::ModelOutput output = context.output;
    output.representation.shared = gathered_z;
    Context global{context.model, output, context.epoch, context.step, context.recompute_losses, context.validation_losses,
                   context.learning_rate, context.reduce_gradients};
    torch::Tensor all = combine_and_update_heads(whole, heads, losses, global);
    std::vector<torch::Tensor> mine;
    std::int64_t at = 0;
    for (auto size : sizes) {
      mine.push_back(all.narrow(0, at + me * size, size));
      at += n * size;
    }
    backward_direction(rep.shared, torch::cat(mine));
    return;
  }
  torch::Tensor direction = combine_and_update_heads(g, heads, losses, context);
  backward_direction(rep.shared, direction);
}

void Balancer::backward_direction(const std::vector<torch::Tensor>& shared, const torch::Tensor& direction) const {
  std::vector<torch::Tensor> grads;
  std::int64_t offset = 0;
  for (const auto& z : shared) {
    grads.push_back(direction.narrow(0, offset, z.numel()).view_as(z).to(z.dtype()));
    offset += z.numel();
  }
  if (offset != direction.numel())
    fail("internal: balancer {}: a direction of {} values for a representation of {}", name(), direction.numel(), offset);
  torch::autograd::backward(shared, grads);
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
    // Step counts kept per task since partially labelled data (a single count in older files).
    if (value.dim() == 0 && target.dim() == 1) value = value.expand_as(target).clone();
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
