// The mixture-of-experts family, on densemtl's backbones and heads:
//   MMoE — Ma, Zhao, Yi, Chen, Hong, Chi, "Modeling Task Relationships in Multi-task Learning with
//          Multi-gate Mixture-of-Experts", KDD 2018;
//   CGC and PLE — Tang, Liu, Zhao, Gong, "Progressive Layered Extraction (PLE): A Novel Multi-Task
//          Learning (MTL) Model for Personalized Recommendations", RecSys 2020;
//   DSelect-k — Hazimeh, Zhao, Chowdhery, Sathiamoorthy, Chen, Mazumder, Hong, Chi, "DSelect-k:
//          Differentiable Selection in the Mixture of Experts with Applications to Multi-Task
//          Learning", NeurIPS 2021.
//
// Experts are copies of the backbone from block `experts_from` on (1 = whole backbones, as LibMTL
// builds them; the blocks before it are one shared trunk). A gate reads the experts' input,
// average-pooled to gate_pool x gate_pool (every map of it, flattened), and gives per image a
// softmax over the experts it mixes.
//
// MMoE (Eq. 5-6 of the paper): E shared experts f_i; per task k a gate g^k(x) = softmax(W_gk x);
//   the task's features f^k(x) = sum_i g^k(x)_i f_i(x), its head reads them.
// CGC (PLE paper, Eq. 1-4): shared experts and m_k experts of each task k;
//   g^k(x) = softmax(W_gk x) over S^k(x) = [E_k(x), E_shared(x)], y^k = h^k(S^k(x)^T g^k(x)).
// PLE (PLE paper, Eq. 5-6): CGC extraction networks stacked, one per block from experts_from on.
//   At level j, task k's experts read task k's output of level j-1 and the shared experts the
//   shared output of level j-1; g^{k,j} mixes [E_k, E_shared] into task k's output, and (except at
//   the last level) a shared gate g^{s,j} mixes every expert of the level into the shared output.
//   At the first level every input is the trunk's output (the image when experts_from = 1).
// DSelect-k (per-example gating, Sec. 3-4): MMoE's shared experts, each task's gate made of k
//   selectors; selector i has m = ceil(log2 n) logits z_i = W_i x, smooth-step activations
//   S(t) = 0 (t <= -g/2), -2/g^3 t^3 + 3/(2g) t + 1/2 (|t| < g/2), 1 (t >= g/2), and selects expert
//   e with r(z_i)_e = prod_j (S(z_ij) if bit j of e is 1 else 1 - S(z_ij)); the gate is
//   q = sum_i softmax(A x)_i r(z_i). Regularisers join the objective: lambda x the selectors'
//   entropy (pushing them to binary) and, when n is not a power of 2, sum_i 1 / sum_e r(z_i)_e
//   (keeping the selectors off codes without an expert); both averaged over the batch.
//
// Names: trunk.* (blocks before experts_from), levels.<j>.shared.<i>.*, levels.<j>.tasks.<task>.<i>.*,
// levels.<j>.gates.<task>.*, levels.<j>.shared_gate.*, decoders.<task>.*.
#include <cmath>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"
#include "densemtl/models/architectures/architecture.h"

namespace densemtl::models {

namespace {

enum class Family { MMoE, CGC, PLE, DSelectK };

// A gate: the input pooled to p x p per map, flattened, a linear layer and a softmax over experts.
class GateImpl : public torch::nn::Module {
 public:
  GateImpl(std::int64_t in_channels, int pool, int experts) : pool_(pool) {
    linear = register_module("linear", torch::nn::Linear(in_channels * pool * pool, experts));
  }
  torch::Tensor forward(const Features& x) {
    std::vector<torch::Tensor> parts;
    for (const auto& m : x) parts.push_back(torch::adaptive_avg_pool2d(m, {pool_, pool_}).flatten(1));
    return torch::softmax(linear->forward(torch::cat(parts, 1)), 1);  // [B, experts]
  }
  torch::nn::Linear linear{nullptr};

 private:
  std::int64_t pool_;
};
TORCH_MODULE(Gate);

// DSelect-k's gate: k selectors over n experts (see the top of the file).
class DSelectGateImpl : public torch::nn::Module {
 public:
  DSelectGateImpl(std::int64_t in_channels, int pool, int experts, int selectors, double gamma)
      : pool_(pool), selectors_(selectors), bits_(static_cast<int>(std::ceil(std::log2(experts)))), gamma_(gamma) {
    const std::int64_t in = in_channels * pool * pool;
    z = register_module("z", torch::nn::Linear(in, selectors * bits_));
    alpha = register_module("alpha", torch::nn::Linear(in, selectors));
    torch::NoGradGuard g;
    for (auto& p : z->parameters()) p.uniform_(-gamma / 100, gamma / 100);  // the official initialisation
    for (auto& p : alpha->parameters()) p.uniform_(-0.05, 0.05);
    codes_ = torch::zeros({experts, bits_}, torch::kBool);
    for (int e = 0; e < experts; ++e)
      for (int j = 0; j < bits_; ++j) codes_[e][j] = ((e >> (bits_ - 1 - j)) & 1) == 1;  // most significant bit first
  }
  torch::Tensor smooth_step(const torch::Tensor& t) const {
    const double g = gamma_;
    torch::Tensor cubic = -2.0 / (g * g * g) * t.pow(3) + 3.0 / (2.0 * g) * t + 0.5;
    return torch::where(t <= -g / 2, torch::zeros_like(t), torch::where(t >= g / 2, torch::ones_like(t), cubic));
  }
  // The gate's weights over the experts [B, n] and each selector's selection r [B, k, n].
  std::pair<torch::Tensor, torch::Tensor> forward(const Features& x) {
    std::vector<torch::Tensor> parts;
    for (const auto& m : x) parts.push_back(torch::adaptive_avg_pool2d(m, {pool_, pool_}).flatten(1));
    torch::Tensor in = torch::cat(parts, 1);
    torch::Tensor s = smooth_step(z->forward(in).view({in.size(0), selectors_, 1, bits_}));  // [B, k, 1, m]
    torch::Tensor codes = codes_.to(in.device()).view({1, 1, codes_.size(0), bits_});
    torch::Tensor r = torch::where(codes, s, 1 - s).prod(3);  // [B, k, n]
    torch::Tensor w = torch::softmax(alpha->forward(in), 1);  // [B, k]
    return {(w.unsqueeze(2) * r).sum(1), r};
  }
  torch::nn::Linear z{nullptr}, alpha{nullptr};

 private:
  std::int64_t pool_;
  int selectors_, bits_;
  double gamma_;
  torch::Tensor codes_;  // [n, m]: the binary code of each expert
};
TORCH_MODULE(DSelectGate);

// sum_e weights[:, e] * experts[e], map by map.
Features mixture(const torch::Tensor& weights, const std::vector<Features>& experts) {
  Features out;
  for (std::size_t m = 0; m < experts.front().size(); ++m) {
    std::vector<torch::Tensor> stack;
    for (const auto& e : experts) stack.push_back(e[m]);
    torch::Tensor w = weights.t().reshape({weights.size(1), weights.size(0), 1, 1, 1}).to(stack.front().dtype());
    out.push_back((torch::stack(stack) * w).sum(0));
  }
  return out;
}

class MixtureOfExpertsImpl : public ArchitectureImpl {
 public:
  MixtureOfExpertsImpl(const ModelSpec& spec, Family family) : ArchitectureImpl(spec), family_(family) {
    const config::View o = options();
    const std::shared_ptr<BackboneImpl> whole = make_backbone(spec.backbone);  // its blocks and channels
    const std::vector<std::size_t> ends = whole->block_ends();
    const auto from = static_cast<std::size_t>(o.get_int("experts_from"));
    if (from > ends.size())
      fail("{}: the {} backbone has {} blocks", o.where("experts_from"), spec.backbone.name, ends.size());
    const int shared_experts = static_cast<int>(o.get_int("shared_experts"));
    const bool task_experts_option = family == Family::CGC || family == Family::PLE;
    const int task_experts = task_experts_option ? static_cast<int>(o.get_int("task_experts")) : 0;
    if (family == Family::DSelectK && o.get_int("selectors") > shared_experts)
      fail("{}: {} selectors for {} experts (at most one selector per expert)", o.where("selectors"), o.get_int("selectors"), shared_experts);
    const int pool = static_cast<int>(o.get_int("gate_pool"));
    // The stages of the trunk and of each level.
    const std::size_t trunk_end = from == 1 ? 0 : ends[from - 2];
    if (family == Family::PLE) {
      std::size_t first = trunk_end;
      for (std::size_t b = from - 1; b < ends.size(); ++b) {
        levels_.emplace_back();
        levels_.back().first = first;
        levels_.back().end = first = ends[b];
      }
    } else {
      levels_.emplace_back();
      levels_.back().first = trunk_end;
      levels_.back().end = ends.back();
    }
    std::vector<std::int64_t> channels = {3};
    if (trunk_end > 0) {
      trunk_ = make_backbone(spec.backbone);
      channels = whole->stage_channels(trunk_end - 1);
      trunk_->keep_stages(0, trunk_end);
      register_module("trunk", trunk_);
      declare("trunk", trunk_, Component::Backbone, ParameterGroup::shared());
    }
    auto levels = register_module("levels", torch::nn::ModuleDict());
    std::vector<std::int64_t> out_channels;
    for (std::size_t j = 0; j < levels_.size(); ++j) {
      Level& level = levels_[j];
      const bool last = j + 1 == levels_.size();
      const std::string path = "levels." + std::to_string(j + 1);
      auto dict = torch::nn::ModuleDict();
      add_module(*levels, std::to_string(j + 1), dict.ptr());
      auto expert = [&](torch::nn::ModuleDictImpl& into, const std::string& key, const std::string& at, ParameterGroup group) {
        return add_backbone_part(into, key, path + "." + at + key, level.first, level.end, std::move(group));
      };
      out_channels = whole->stage_channels(level.end - 1);
      auto shared = torch::nn::ModuleDict();
      add_module(*dict, "shared", shared.ptr());
      for (int i = 0; i < shared_experts; ++i) level.shared.push_back(expert(*shared, std::to_string(i), "shared.", ParameterGroup::shared()));
      if (task_experts > 0) {
        auto tasks = torch::nn::ModuleDict();
        add_module(*dict, "tasks", tasks.ptr());
        for (const auto& t : spec.tasks) {
          auto own = torch::nn::ModuleDict();
          add_module(*tasks, t, own.ptr());
          // Below the last level a task's experts also feed the shared gate, so every task reaches them.
          for (int i = 0; i < task_experts; ++i)
            level.task[t].push_back(expert(*own, std::to_string(i), "tasks." + t + ".", ParameterGroup::of_task(t, last)));
        }
      }
      auto gates = torch::nn::ModuleDict();
      add_module(*dict, "gates", gates.ptr());
      std::int64_t in = 0;
      for (auto c : channels) in += c;
      for (const auto& t : spec.tasks) {
        std::shared_ptr<torch::nn::Module> module;
        if (family == Family::DSelectK) {
          DSelectGate g(in, pool, shared_experts, static_cast<int>(o.get_int("selectors")), o.get_float("gamma"));
          level.dselect.emplace(t, g);
          module = g.ptr();
        } else {
          Gate g(in, pool, task_experts + shared_experts);
          level.gates.emplace(t, g);
          module = g.ptr();
        }
        add_module(*gates, t, module);
        declare(path + ".gates." + t, module, Component::Other, ParameterGroup::of_task(t));  // only task t reads its mixture
      }
      if (family == Family::PLE && !last) {
        level.shared_gate = Gate(in, pool, static_cast<int>(spec.tasks.size()) * task_experts + shared_experts);
        add_module(*dict, "shared_gate", level.shared_gate.ptr());
        declare(path + ".shared_gate", level.shared_gate.ptr(), Component::Other, ParameterGroup::shared());
      }
      channels = out_channels;
    }
    heads_ = add_task_heads("decoders", out_channels);
  }

  ModelOutput forward(const torch::Tensor& image) override {
    ModelOutput out;
    Features x{image};
    if (trunk_)
      for (std::size_t s = 0; s < levels_.front().first; ++s) x = trunk_->forward_stage(s, x);
    std::map<std::string, Features> task_input;
    for (const auto& t : spec_.tasks) task_input[t] = x;
    Features shared_input = x;
    for (std::size_t j = 0; j < levels_.size(); ++j) {
      Level& level = levels_[j];
      auto run = [&](BackboneImpl& b, Features in) {
        for (std::size_t s = level.first; s < level.end; ++s) in = b.forward_stage(s, in);
        return in;
      };
      // Shared experts read the shared input (one input for all tasks in MMoE and CGC).
      std::vector<Features> shared;
      for (auto& e : level.shared) shared.push_back(run(*e, shared_input));
      std::map<std::string, std::vector<Features>> own;
      for (auto& [t, experts] : level.task)
        for (auto& e : experts) own[t].push_back(run(*e, task_input.at(t)));
      std::map<std::string, Features> task_output;
      for (const auto& t : spec_.tasks) {
        std::vector<Features> candidates = own.count(t) ? own.at(t) : std::vector<Features>{};
        candidates.insert(candidates.end(), shared.begin(), shared.end());
        if (family_ != Family::DSelectK) {
          task_output[t] = mixture(level.gates.at(t)->forward(task_input.at(t)), candidates);
          continue;
        }
        auto [weights, selected] = level.dselect.at(t)->forward(task_input.at(t));
        task_output[t] = mixture(weights, candidates);
        if (is_training()) add_selector_regularizers(t, selected, out.regularizers);
      }
      if (level.shared_gate) {
        std::vector<Features> all;
        for (const auto& t : spec_.tasks)
          if (own.count(t)) all.insert(all.end(), own.at(t).begin(), own.at(t).end());
        all.insert(all.end(), shared.begin(), shared.end());
        shared_input = mixture(level.shared_gate->forward(shared_input), all);
      }
      task_input = std::move(task_output);
    }
    out.representation = per_task(std::move(task_input));
    predict_tasks(out, heads_, image);
    return out;
  }

  // Every task reads its own mixture: no shared representation to take task gradients on.
  bool separable_representation() const override { return false; }

 private:
  // DSelect-k's regularisers of one task's selectors r [B, k, n], averaged over the batch.
  void add_selector_regularizers(const std::string& task, const torch::Tensor& r,
                                 std::vector<std::pair<std::string, torch::Tensor>>& into) const {
    const double lambda = options().get_float("entropy_weight");
    if (lambda > 0) {
      torch::Tensor entropy = -(r * torch::log(r + 1e-6)).sum({1, 2}).mean();
      into.emplace_back("dselect_entropy." + task, lambda * entropy);
    }
    const std::int64_t n = r.size(2);
    if ((n & (n - 1)) != 0) into.emplace_back("dselect_valid_codes." + task, (1.0 / r.sum(2)).sum(1).mean());
  }

  struct Level {
    std::size_t first = 0, end = 0;  // backbone stages [first, end)
    std::vector<std::shared_ptr<BackboneImpl>> shared;
    std::map<std::string, std::vector<std::shared_ptr<BackboneImpl>>> task;
    std::map<std::string, Gate> gates;
    std::map<std::string, DSelectGate> dselect;
    Gate shared_gate{nullptr};
  };
  Family family_;
  std::shared_ptr<BackboneImpl> trunk_;
  std::vector<Level> levels_;
  std::map<std::string, std::shared_ptr<HeadImpl>> heads_;
};

std::vector<config::Spec> options(Family family, int shared_experts) {
  using namespace config;
  std::vector<Spec> o = {
      integer("experts_from", 1, 1, 4,
              "First backbone block that experts copy (ResNet: 1 conv+layer1, 2 layer2, 3 layer3, 4 layer4; HRNet: stem, stage2..4); "
              "the blocks before it are one shared trunk; 1 = every expert is a whole backbone"),
      integer("shared_experts", shared_experts, family == Family::CGC || family == Family::PLE ? 0 : (family == Family::DSelectK ? 2 : 1), 64,
              "Experts shared by all tasks"),
  };
  if (family == Family::CGC || family == Family::PLE) o.push_back(integer("task_experts", 1, 1, 64, "Experts of each task"));
  o.push_back(integer("gate_pool", 4, 1, 64, "A gate reads its input average-pooled to N x N (every map), flattened"));
  if (family == Family::DSelectK) {
    o.push_back(integer("selectors", 2, 1, 64, "k: the selectors of each task's gate (at most k experts are mixed once they are binary)"));
    o.push_back(exclusive_min(real("gamma", 1.0, 0.0, 100.0, "Width of the smooth-step function around 0")));
    o.push_back(real("entropy_weight", 1e-6, 0.0, 1e3,
                     "lambda: weight of the selectors' entropy regulariser (1e-6 as LibMTL; the paper tunes it) [unconfirmed]"));
  }
  return o;
}

std::string accepts(const ModelSpec& spec) { return several_tasks_no_auxiliary(spec, "gates experts for two or more tasks"); }

template <Family F>
Architecture make(const ModelSpec& spec) {
  return std::make_shared<MixtureOfExpertsImpl>(spec, F);
}

}  // namespace

DENSEMTL_REGISTER(ArchitectureEntry, {"mmoe", 50, "MMoE (Ma et al. 2018): shared expert backbones, a softmax gate per task mixes them",
                                      make<Family::MMoE>, ArchitectureEntry::Role::MultiTask, options(Family::MMoE, 3), accepts,
                                      "MMoE"});
DENSEMTL_REGISTER(ArchitectureEntry, {"cgc", 51,
                                      "CGC (Tang et al. 2020): shared and task-specific expert backbones, a gate per task over its own "
                                      "and the shared experts",
                                      make<Family::CGC>, ArchitectureEntry::Role::MultiTask, options(Family::CGC, 1), accepts, "CGC"});
DENSEMTL_REGISTER(ArchitectureEntry, {"dselect_k", 53,
                                      "DSelect-k (Hazimeh et al. 2021): shared expert backbones, per task k differentiable binary-code "
                                      "selectors (smooth-step) choose among them",
                                      make<Family::DSelectK>, ArchitectureEntry::Role::MultiTask, options(Family::DSelectK, 4), accepts,
                                      "DSelect-k"});
DENSEMTL_REGISTER(ArchitectureEntry, {"ple", 52,
                                      "PLE (Tang et al. 2020): CGC extraction levels stacked block by block, shared gates between levels",
                                      make<Family::PLE>, ArchitectureEntry::Role::MultiTask, options(Family::PLE, 1), accepts, "PLE"});

}  // namespace densemtl::models
