// Learning to Branch — Guo, Lee, Ulbricht, "Learning to Branch for Multi-Task Learning", ICML 2020.
//
// A tree-structured supernet over the backbone's blocks (ResNet conv+layer1, layer2, layer3,
// layer4; HRNet stem, stage2, stage3, stage4): layer d has N_d nodes, each a copy of block d, the
// last layer one node per task, whose head reads it. Every node c of layer d > 1 chooses its
// parent among the N_{d-1} nodes of the layer below through learnable logits theta_d[c, :]:
//   training:   w = softmax((theta_d[c] + g) / tau), g ~ Gumbel(0, 1)  (Gumbel-softmax; with `hard`
//               the one-hot of its argmax, gradients passed straight through to the soft sample),
//               tau = temperature / sqrt(epoch + 1), and the node reads sum_p w_p x_p;
//   warm-up:    for the first warmup_epochs a node reads the mean of all its candidate parents;
//   evaluation: every node reads its most likely parent (argmax theta): the learned tree.
// Weights and logits train jointly on the training loss (logits at logits_lr_factor x the rate).
// `densemtl branch --learned RUN` writes the learned tree as a branched network's config, to
// train it from scratch as the paper's final step.
//
// Names: encoder.block<d>.<i>.* (node i of layer d, d from 1), logits.block<d> ([N_d, N_{d-1}],
// d from 2), decoders.<task>.*.
#include <cmath>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"
#include "densemtl/models/architectures/architecture.h"
#include "densemtl/models/architectures/branched.h"

namespace densemtl::models {

namespace {

class LearningToBranchImpl : public ArchitectureImpl {
 public:
  explicit LearningToBranchImpl(const ModelSpec& spec) : ArchitectureImpl(spec) {
    const config::View o = options();
    const auto tasks = static_cast<std::int64_t>(spec.tasks.size());
    const std::int64_t branches = o.get_int("branches") > 0 ? o.get_int("branches") : tasks;
    auto encoder = register_module("encoder", torch::nn::ModuleDict());
    auto logits = register_module("logits", torch::nn::ModuleDict());
    const std::vector<std::size_t> ends = make_backbone(spec.backbone)->block_ends();
    std::size_t first = 0;
    std::vector<std::int64_t> out_channels;
    for (std::size_t d = 0; d < ends.size(); ++d) {
      const bool last = d + 1 == ends.size();
      const std::int64_t n = last ? tasks : branches;
      const std::string name = "block" + std::to_string(d + 1);
      auto layer = torch::nn::ModuleDict();
      add_module(*encoder, name, layer.ptr());
      nodes_.emplace_back();
      for (std::int64_t i = 0; i < n; ++i)
        nodes_.back().push_back(add_backbone_part(*layer, std::to_string(i), "encoder." + name + "." + std::to_string(i), first, ends[d],
                                                  last ? ParameterGroup::of_task(spec.tasks[static_cast<std::size_t>(i)])
                                                       : ParameterGroup::shared()));
      out_channels = nodes_.back().front()->stage_channels(ends[d] - 1);
      if (d > 0) {
        // A module holding the layer's logits, so that they have a name and a declared part.
        auto holder = std::make_shared<torch::nn::Module>();
        holder->register_parameter("theta", torch::zeros({n, static_cast<std::int64_t>(nodes_[d - 1].size())}));
        add_module(*logits, name, holder);
        declare("logits." + name, holder, Component::Other, ParameterGroup::cross_task(), o.get_float("logits_lr_factor"));
        logits_.push_back(holder->named_parameters()["theta"]);
      }
      stages_.emplace_back(first, ends[d]);
      first = ends[d];
    }
    heads_ = add_task_heads("decoders", out_channels);
  }

  void set_epoch(int epoch, int /*epochs*/) override { epoch_ = epoch; }

  ModelOutput forward(const torch::Tensor& image) override {
    const config::View o = options();
    const double tau = o.get_float("temperature") / std::sqrt(static_cast<double>(epoch_) + 1.0);
    const bool warmup = epoch_ < o.get_int("warmup_epochs");
    // In evaluation only the nodes on some task's path run.
    std::vector<std::vector<bool>> needed;
    for (const auto& layer : nodes_) needed.emplace_back(layer.size(), is_training());
    if (!is_training()) {
      needed.back().assign(nodes_.back().size(), true);
      for (std::size_t d = nodes_.size() - 1; d > 0; --d)
        for (std::size_t c = 0; c < nodes_[d].size(); ++c)
          if (needed[d][c]) needed[d - 1][static_cast<std::size_t>(logits_[d - 1][static_cast<std::int64_t>(c)].argmax().item<std::int64_t>())] = true;
    }
    std::vector<Features> previous;
    for (std::size_t d = 0; d < nodes_.size(); ++d) {
      std::vector<Features> current;
      torch::Tensor w;  // [N_d, N_{d-1}] parent weights
      if (d > 0 && is_training()) {
        const torch::Tensor& theta = logits_[d - 1];
        w = warmup ? torch::full_like(theta, 1.0 / static_cast<double>(theta.size(1))) : gumbel_softmax(theta, tau, o.get_bool("hard"));
      }
      for (std::size_t c = 0; c < nodes_[d].size(); ++c) {
        Features x;
        if (!needed[d][c]) {
          current.emplace_back();
          continue;
        }
        if (d == 0) {
          x = {image};
        } else if (!is_training()) {
          x = previous.at(static_cast<std::size_t>(logits_[d - 1][static_cast<std::int64_t>(c)].argmax().item<std::int64_t>()));
        } else {
          for (std::size_t m = 0; m < previous.front().size(); ++m) {
            torch::Tensor sum;
            for (std::size_t p = 0; p < previous.size(); ++p) {
              torch::Tensor term = w[static_cast<std::int64_t>(c)][static_cast<std::int64_t>(p)].to(previous[p][m].dtype()) * previous[p][m];
              sum = sum.defined() ? sum + term : term;
            }
            x.push_back(sum);
          }
        }
        for (std::size_t s = stages_[d].first; s < stages_[d].second; ++s) x = nodes_[d][c]->forward_stage(s, x);
        current.push_back(std::move(x));
      }
      previous = std::move(current);
    }
    ModelOutput out;
    std::map<std::string, Features> features;
    for (std::size_t t = 0; t < spec_.tasks.size(); ++t) features[spec_.tasks[t]] = previous.at(t);
    out.representation = per_task(std::move(features));
    predict_tasks(out, heads_, image);
    return out;
  }

  bool separable_representation() const override { return false; }

  std::vector<std::string> learned_tree() const override {
    const std::size_t blocks = nodes_.size();
    std::vector<std::string> entries;
    for (std::size_t t = 0; t < spec_.tasks.size(); ++t) {
      std::vector<std::int64_t> path(blocks);
      path[blocks - 1] = static_cast<std::int64_t>(t);
      for (std::size_t d = blocks - 1; d > 0; --d) path[d - 1] = logits_[d - 1][path[d]].argmax().item<std::int64_t>();
      std::string e = spec_.tasks[t] + ":";
      for (auto n : path) e += " " + std::to_string(n);
      entries.push_back(e);
    }
    // Tasks that share a node share its ancestors: always a tree; renumbered canonically.
    return Tree::parse(entries, spec_.tasks, blocks, "learned tree").entries();
  }

 private:
  std::vector<std::vector<std::shared_ptr<BackboneImpl>>> nodes_;  // [layer][node]
  std::vector<std::pair<std::size_t, std::size_t>> stages_;        // [layer]: its stages [first, end)
  std::vector<torch::Tensor> logits_;                              // [layer - 1]: theta of layer d >= 2
  std::map<std::string, std::shared_ptr<HeadImpl>> heads_;
  int epoch_ = 0;
};

std::vector<config::Spec> options() {
  using namespace config;
  return {
      integer("branches", 0, 0, 64, "Nodes of every layer below the last (whose nodes are the tasks); 0 = the number of tasks, as LibMTL"),
      exclusive_min(real("temperature", 1.0, 0.0, 100.0,
                         "Gumbel-softmax temperature at epoch 1; it decays as temperature / sqrt(epoch) [unconfirmed]")),
      boolean("hard", true, "One-hot parent samples with straight-through gradients (false: the soft samples)"),
      integer("warmup_epochs", 0, 0, 100000, "Epochs in which every node reads the mean of its candidate parents [unconfirmed]"),
      exclusive_min(real("logits_lr_factor", 1.0, 0.0, 1e6, "Learning rate of the branching logits as a multiple of the schedule's rate")),
  };
}

std::string accepts(const ModelSpec& spec) { return several_tasks_no_auxiliary(spec, "learns a tree over two or more tasks"); }

}  // namespace

DENSEMTL_REGISTER(ArchitectureEntry, {"learning_to_branch", 47,
                                      "Learning to Branch (Guo et al. 2020): a tree supernet whose nodes pick their parent block by "
                                      "Gumbel-softmax over learned logits; `densemtl branch --learned RUN` exports the tree",
                                      architecture<LearningToBranchImpl>, ArchitectureEntry::Role::MultiTask, options(), accepts,
                                      "Learning to Branch"});

}  // namespace densemtl::models
