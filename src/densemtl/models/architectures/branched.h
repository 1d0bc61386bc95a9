// Branched multi-task networks (Vandenhende, Georgoulis, De Brabandere, Van Gool, "Branched
// Multi-Task Networks: Deciding What Layers To Share", BMVC 2020): a tree-shaped encoder whose
// shallow blocks are shared and whose deeper blocks belong to ever smaller groups of tasks.
//
// A tree is data: for each block of the backbone (backbone.block_ends(): ResNet conv+layer1,
// layer2, layer3, layer4; HRNet stem, stage2, stage3, stage4) the partition of the tasks into the
// groups that share that block's instance, each partition refining the one before (a tree only
// splits). In a config (model.branched.tree) it is one entry per task, "semseg: 0 0 1 1", the
// index of the instance the task runs at each block; `densemtl branch` chooses one from
// single-task runs under a budget.
#pragma once

#include <string>
#include <vector>

#include "densemtl/models/architectures/architecture.h"

namespace densemtl::models {

// Group labels renumbered in order of first appearance ({7, 3, 7, 5} -> {0, 1, 0, 2}).
std::vector<int> canonical_labels(const std::vector<int>& labels);

struct Tree {
  std::vector<std::string> tasks;          // canonical order
  std::vector<std::vector<int>> branch;    // [block][task position]: the instance the task runs

  // Every block shared by all tasks (the multi-task baseline), or none (the single-task networks).
  static Tree shared(const std::vector<std::string>& tasks, std::size_t blocks);
  static Tree separate(const std::vector<std::string>& tasks, std::size_t blocks);
  // From config entries "task: i1 i2 ... iD". Indices are renumbered canonically (in order of
  // first appearance over the tasks, per block). A task missing or given twice, an unknown task, a
  // count of indices other than `blocks`, or a tree that merges groups again is a densemtl::Error
  // prefixed with `where`.
  static Tree parse(const std::vector<std::string>& entries, const std::vector<std::string>& tasks, std::size_t blocks,
                    const std::string& where);

  std::size_t blocks() const { return branch.size(); }
  // Instances of block `block` (the number of groups of its partition).
  int instances(std::size_t block) const;
  // The positions of the tasks that share instance `instance` of block `block`.
  std::vector<std::size_t> group(std::size_t block, int instance) const;
  // The config entries, one per task ("semseg: 0 0 1 1").
  std::vector<std::string> entries() const;
  // The partitions block by block: "{semseg,depth,normals,edge} {semseg,depth|normals,edge} ...".
  std::string text() const;
  bool operator==(const Tree& o) const { return tasks == o.tasks && branch == o.branch; }
};

// What one block instance and the heads cost, for a tree's parameters and FLOPs without building it:
// params(tree) = sum_d instances(d) * block_params[d] + head_params, MACs likewise.
struct BlockCosts {
  std::vector<std::int64_t> block_params, block_macs;  // one instance of each block
  std::int64_t head_params = 0, head_macs = 0;         // all task heads together
  std::int64_t params(const Tree& tree) const;
  std::int64_t macs(const Tree& tree) const;
};
// The costs of `spec`'s backbone blocks and heads at an input of height x width.
BlockCosts block_costs(const ModelSpec& spec, int height, int width);

// Learning to Branch's parent sampling: a Gumbel-softmax sample over the last dimension,
// softmax((logits + g) / tau) with g ~ Gumbel(0, 1) from torch's generator; with `hard` the one-hot
// of its argmax in the forward pass and the soft sample's gradient in the backward pass.
torch::Tensor gumbel_softmax(const torch::Tensor& logits, double tau, bool hard);

// The number of blocks a tree over `spec`'s backbone has.
std::size_t tree_blocks(const BackboneSpec& backbone);

}  // namespace densemtl::models
