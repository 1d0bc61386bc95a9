// Branched multi-task networks — Vandenhende, Georgoulis, De Brabandere, Van Gool, BMVC 2020
// (steps 1-5, choosing the tree, are in train/branching.h). Step 6, building the tree: block d is
// instantiated once per group of the partition P_d; a group's input is the output of its parent
// group in P_{d-1} (the image for the first block); every instance is a copy of the backbone's
// block, so ImageNet weights load into each; the heads hang after the last block, as in the
// multi-task baseline, and train with its losses.
//
// Names: encoder.block<d>.<i>.* (instance i of block d, d from 1; under it the backbone's own
// names, e.g. encoder.block2.1.layer2.0.conv1.weight), decoders.<task>.*.
#include "densemtl/models/architectures/branched.h"

#include <set>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"
#include "densemtl/models/build.h"

namespace densemtl::models {

// --- Trees ---

std::vector<int> canonical_labels(const std::vector<int>& labels) {
  std::map<int, int> renumber;
  std::vector<int> out(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) out[i] = renumber.emplace(labels[i], static_cast<int>(renumber.size())).first->second;
  return out;
}

Tree Tree::shared(const std::vector<std::string>& tasks, std::size_t blocks) {
  return {tasks, std::vector<std::vector<int>>(blocks, std::vector<int>(tasks.size(), 0))};
}

Tree Tree::separate(const std::vector<std::string>& tasks, std::size_t blocks) {
  std::vector<int> own(tasks.size());
  for (std::size_t t = 0; t < tasks.size(); ++t) own[t] = static_cast<int>(t);
  return {tasks, std::vector<std::vector<int>>(blocks, own)};
}

Tree Tree::parse(const std::vector<std::string>& entries, const std::vector<std::string>& tasks, std::size_t blocks,
                 const std::string& where) {
  std::vector<std::vector<int>> raw(tasks.size());
  std::vector<bool> given(tasks.size(), false);
  for (const std::string& entry : entries) {
    auto colon = entry.find(':');
    if (colon == std::string::npos)
      fail("{}: '{}' is not 'task: i1 ... i{}' (the instance each block of the task's path uses)", where, entry, blocks);
    const std::string task = trim(entry.substr(0, colon));
    auto it = std::find(tasks.begin(), tasks.end(), task);
    if (it == tasks.end()) fail("{}: '{}' is not a task of this model ({})", where, task, join(tasks, ", "));
    const auto t = static_cast<std::size_t>(it - tasks.begin());
    if (given[t]) fail("{}: task {} is given twice", where, task);
    given[t] = true;
    for (const std::string& word : split(trim(entry.substr(colon + 1)), ' ')) {
      if (word.empty()) continue;
      char* end = nullptr;
      long v = std::strtol(word.c_str(), &end, 10);
      if (*end != '\0' || v < 0 || v > 1000) fail("{}: {}: '{}' is not an instance index (0, 1, ...)", where, task, word);
      raw[t].push_back(static_cast<int>(v));
    }
    if (raw[t].size() != blocks)
      fail("{}: {}: {} indices given, the backbone has {} blocks (one index per block)", where, task, raw[t].size(), blocks);
  }
  for (std::size_t t = 0; t < tasks.size(); ++t)
    if (!given[t]) fail("{}: task {} has no entry (each task needs its path: '{}: i1 ... i{}')", where, tasks[t], tasks[t], blocks);
  Tree tree{tasks, {}};
  for (std::size_t d = 0; d < blocks; ++d) {
    std::vector<int> column;
    for (std::size_t t = 0; t < tasks.size(); ++t) column.push_back(raw[t][d]);
    tree.branch.push_back(canonical_labels(column));
  }
  for (std::size_t d = 1; d < blocks; ++d)
    for (std::size_t i = 0; i < tasks.size(); ++i)
      for (std::size_t j = i + 1; j < tasks.size(); ++j)
        if (tree.branch[d][i] == tree.branch[d][j] && tree.branch[d - 1][i] != tree.branch[d - 1][j])
          fail("{}: {} and {} share block {} but not block {}: a tree only splits, so tasks that share a block share every "
               "block before it",
               where, tasks[i], tasks[j], d + 1, d);
  return tree;
}

int Tree::instances(std::size_t block) const { return *std::max_element(branch.at(block).begin(), branch.at(block).end()) + 1; }

std::vector<std::size_t> Tree::group(std::size_t block, int instance) const {
  std::vector<std::size_t> out;
  for (std::size_t t = 0; t < tasks.size(); ++t)
    if (branch.at(block)[t] == instance) out.push_back(t);
  return out;
}

std::vector<std::string> Tree::entries() const {
  std::vector<std::string> out;
  for (std::size_t t = 0; t < tasks.size(); ++t) {
    std::string e = tasks[t] + ":";
    for (const auto& b : branch) e += " " + std::to_string(b[t]);
    out.push_back(e);
  }
  return out;
}

std::string Tree::text() const {
  std::vector<std::string> blocks_text;
  for (std::size_t d = 0; d < blocks(); ++d) {
    std::vector<std::string> groups;
    for (int i = 0; i < instances(d); ++i) {
      std::vector<std::string> names;
      for (std::size_t t : group(d, i)) names.push_back(tasks[t]);
      groups.push_back(join(names, ","));
    }
    blocks_text.push_back("{" + join(groups, "|") + "}");
  }
  return join(blocks_text, " ");
}

// --- Costs ---

std::int64_t BlockCosts::params(const Tree& tree) const {
  std::int64_t n = head_params;
  for (std::size_t d = 0; d < tree.blocks(); ++d) n += tree.instances(d) * block_params.at(d);
  return n;
}

std::int64_t BlockCosts::macs(const Tree& tree) const {
  std::int64_t n = head_macs;
  for (std::size_t d = 0; d < tree.blocks(); ++d) n += tree.instances(d) * block_macs.at(d);
  return n;
}

torch::Tensor gumbel_softmax(const torch::Tensor& logits, double tau, bool hard) {
  torch::Tensor u = torch::rand_like(logits).clamp(1e-10, 1.0 - 1e-7);
  torch::Tensor soft = torch::softmax((logits - torch::log(-torch::log(u))) / tau, -1);
  if (!hard) return soft;
  torch::Tensor one_hot = torch::zeros_like(soft).scatter_(-1, soft.argmax(-1, true), 1.0);
  return one_hot - soft.detach() + soft;
}

std::size_t tree_blocks(const BackboneSpec& backbone) { return make_backbone(backbone)->block_ends().size(); }

BlockCosts block_costs(const ModelSpec& spec, int height, int width) {
  torch::NoGradGuard no_grad;
  BlockCosts c;
  std::shared_ptr<BackboneImpl> backbone = make_backbone(spec.backbone);
  backbone->eval();
  Features x{torch::zeros({1, 3, height, width})};
  std::size_t first = 0;
  for (std::size_t end : backbone->block_ends()) {
    std::int64_t params = 0;
    for (std::size_t s = first; s < end; ++s)
      for (const auto& name : backbone->stage_modules(s))
        for (const auto& p : backbone->named_children()[name]->parameters()) params += p.numel();
    MacCounter counter;
    for (std::size_t s = first; s < end; ++s) x = backbone->forward_stage(s, x);
    c.block_params.push_back(params);
    c.block_macs.push_back(counter.macs());
    first = end;
  }
  for (const auto& t : spec.tasks) {
    std::shared_ptr<HeadImpl> head = make_head(spec.head, backbone->out_channels(), spec.outputs.at(t));
    head->eval();
    for (const auto& p : head->parameters()) c.head_params += p.numel();
    MacCounter counter;
    head->forward(x);
    c.head_macs += counter.macs();
  }
  return c;
}

// --- The network ---

namespace {

std::vector<config::Spec> options() {
  using namespace config;
  return {string_list("tree", {}, {}, 0,
                      "The tree, one entry per task: 'task: i1 ... iD', the instance of each backbone block (ResNet: conv+layer1, "
                      "layer2, layer3, layer4; HRNet: stem, stage2, stage3, stage4) the task runs; tasks with the same index at a "
                      "block share it. `densemtl branch` writes one from single-task runs; empty = every block shared (the "
                      "multi-task baseline's sharing)")};
}

Tree tree_of(const ModelSpec& spec, const config::View& o, std::size_t blocks) {
  std::vector<std::string> entries = o.get_string_list("tree");
  if (entries.empty()) return Tree::shared(spec.tasks, blocks);
  return Tree::parse(entries, spec.tasks, blocks, "model.branched.tree");
}

class BranchedImpl : public ArchitectureImpl {
 public:
  explicit BranchedImpl(const ModelSpec& spec) : ArchitectureImpl(spec) {
    std::shared_ptr<BackboneImpl> whole = make_backbone(spec.backbone);  // its block ends and output channels
    const std::vector<std::size_t> ends = whole->block_ends();
    tree_ = tree_of(spec, options(), ends.size());
    auto encoder = register_module("encoder", torch::nn::ModuleDict());
    std::size_t first = 0;
    for (std::size_t d = 0; d < tree_.blocks(); ++d) {
      auto block = torch::nn::ModuleDict();
      const std::string name = "block" + std::to_string(d + 1);
      add_module(*encoder, name, block.ptr());
      instances_.emplace_back();
      for (int i = 0; i < tree_.instances(d); ++i)
        instances_.back().push_back(
            add_backbone_part(*block, std::to_string(i), "encoder." + name + "." + std::to_string(i), first, ends.at(d), group_of(d, i)));
      stages_.emplace_back(first, ends.at(d));
      first = ends.at(d);
    }
    heads_ = add_task_heads("decoders", whole->out_channels());
  }

  ModelOutput forward(const torch::Tensor& image) override {
    std::vector<Features> previous{{image}};  // by instance of the previous block
    for (std::size_t d = 0; d < tree_.blocks(); ++d) {
      std::vector<Features> current;
      for (int i = 0; i < tree_.instances(d); ++i) {
        const std::size_t task = tree_.group(d, i).front();
        Features x = d == 0 ? previous.front() : previous.at(static_cast<std::size_t>(tree_.branch[d - 1][task]));
        for (std::size_t s = stages_[d].first; s < stages_[d].second; ++s) x = instances_[d][static_cast<std::size_t>(i)]->forward_stage(s, x);
        current.push_back(std::move(x));
      }
      previous = std::move(current);
    }
    ModelOutput out;
    if (previous.size() == 1) {
      out.representation = share(previous.front());
    } else {
      std::map<std::string, Features> features;
      for (std::size_t t = 0; t < spec_.tasks.size(); ++t)
        features[spec_.tasks[t]] = previous.at(static_cast<std::size_t>(tree_.branch.back()[t]));
      out.representation = per_task(std::move(features));
    }
    predict_tasks(out, heads_, image);
    return out;
  }

  // Task gradients on the representation exist when every task reads the same last block.
  bool separable_representation() const override { return tree_.instances(tree_.blocks() - 1) == 1; }

 private:
  // An instance every task runs is shared; one task's instance is that task's alone (only its
  // losses reach it); an instance of a few tasks is shared among them (balancers combine their
  // gradients on it; the other tasks' gradients there are zero).
  ParameterGroup group_of(std::size_t block, int instance) const {
    std::vector<std::size_t> g = tree_.group(block, instance);
    if (g.size() == 1 && spec_.tasks.size() > 1) return ParameterGroup::of_task(spec_.tasks[g.front()]);
    return ParameterGroup::shared();
  }

  Tree tree_;
  std::vector<std::vector<std::shared_ptr<BackboneImpl>>> instances_;  // [block][instance]
  std::vector<std::pair<std::size_t, std::size_t>> stages_;             // [block]: its stages [first, end)
  std::map<std::string, std::shared_ptr<HeadImpl>> heads_;
};

std::string accepts(const ModelSpec& spec) {
  try {
    tree_of(spec, spec.config && spec.config->has("model.branched") ? config::View(*spec.config, "model.branched")
                                                                    : config::defaults("model.branched", options()),
            tree_blocks(spec.backbone));
  } catch (const Error& e) {
    return e.what();
  }
  return no_auxiliary_tasks(spec);
}

}  // namespace

DENSEMTL_REGISTER(ArchitectureEntry, {"branched", 45,
                                      "tree-shaped encoder: blocks shared by groups of tasks that split deeper (branched multi-task "
                                      "networks; `densemtl branch` chooses the tree)",
                                      architecture<BranchedImpl>, ArchitectureEntry::Role::MultiTask, options(), accepts,
                                      "branched network"});

}  // namespace densemtl::models
