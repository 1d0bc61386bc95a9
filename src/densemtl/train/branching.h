// Choosing a branched network's tree — Vandenhende, Georgoulis, De Brabandere, Van Gool,
// "Branched Multi-Task Networks: Deciding What Layers To Share", BMVC 2020
// (steps 1-5 of its procedure; step 6, building the network, is models/architectures/branched.cpp):
//   1. one single-task network per task with the encoder to be branched (densemtl's runs);
//   2. candidate branching locations d = 1..D, the ends of the encoder's blocks;
//   3. representation similarity analysis on K training images: per task and location the
//      dissimilarity matrix RDM[k,l] = 1 - pearson(f(x_k), f(x_l)) of the flattened block outputs,
//      and the affinity A_d[i,j] = spearman(triu(RDM_i,d), triu(RDM_j,d)) over the strict upper
//      triangles (ties get average ranks);
//   4. the cost of a tree, a chain of partitions P_1 .. P_D each refining the one before:
//      C = sum_d (1/|P_d|) sum_{c in P_d} max_{i,j in c} (1 - A_d[i,j]), a singleton adding 0;
//   5. every tree under a budget of parameters or FLOPs, the cheapest chosen (ties: fewer
//      parameters, then the lexicographically first branch indices).
// The tree itself (models::Tree) and its network are in models/architectures/branched.h.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "densemtl/core/fs.h"
#include "densemtl/core/json.h"
#include "densemtl/models/architectures/branched.h"
#include "densemtl/train/experiment.h"
#include "densemtl/train/run.h"

namespace densemtl::branching {

// --- Representation similarity analysis ---

// Rows of `features` ([K, F]) centred and scaled to unit norm, so that Z Z^T holds the Pearson
// correlations. A constant row (no variance, e.g. an all-zero ReLU output) becomes zero: it
// correlates 0 with everything.
torch::Tensor standardize_rows(const torch::Tensor& features);

// The standardised rows of one task at one location, K x F, kept in memory as fp16 while they fit
// `memory_bytes`, else in an fp16 file at `spill` (removed with the store); gram() forms Z Z^T
// block-wise within the same memory.
class RowStore {
 public:
  RowStore(std::int64_t width, std::int64_t rows, std::size_t memory_bytes, fs::path spill);
  ~RowStore();
  RowStore(const RowStore&) = delete;
  RowStore& operator=(const RowStore&) = delete;
  void append(const torch::Tensor& standardized);  // [n, width]
  torch::Tensor gram() const;                      // [K, K] float32
  bool spilled() const { return !spill_.empty(); }

 private:
  torch::Tensor read(std::int64_t begin, std::int64_t end) const;  // float32
  std::int64_t width_, rows_, filled_ = 0;
  std::size_t memory_;
  torch::Tensor memory_rows_;  // fp16, when kept in memory
  fs::path spill_;
};

// RDM = 1 - G from the Gram matrix of standardised rows: symmetric, zero diagonal, in [0, 2].
torch::Tensor dissimilarity(const torch::Tensor& gram);
// Ranks 1..n of a 1-D tensor, ties averaged.
torch::Tensor average_ranks(const torch::Tensor& values);
// Spearman correlation of the strict upper triangles of two K x K matrices; 0 when either is
// constant there.
double rdm_correlation(const torch::Tensor& a, const torch::Tensor& b);
// N x N affinity of the tasks at one location from their RDMs (symmetric, unit diagonal).
torch::Tensor affinity(const std::vector<torch::Tensor>& rdms);

// --- Trees ---

// Every tree over `tasks` with `blocks` blocks (chains of partitions, each refining the one
// before), branch indices canonical; with `shared_first` the first block is shared by all.
std::vector<models::Tree> enumerate_trees(const std::vector<std::string>& tasks, std::size_t blocks, bool shared_first = false);
// The tree's dissimilarity cost under the affinities A_d (one N x N matrix per block).
double tree_cost(const models::Tree& tree, const std::vector<torch::Tensor>& affinities);

struct Budget {
  enum class Kind { Params, Flops } kind = Kind::Params;
  double value = 0;  // absolute (parameters, or FLOPs = 2 x multiply-accumulates per image)
  std::string text;  // as given
};
// "25M", "2.5e7", "25Mparams": parameters; "40GFLOPs", "4e10flops": FLOPs per image;
// "1.5x" / "1.5xFLOPs": that multiple of the fully shared tree's parameters / FLOPs. Anything else is
// a densemtl::Error naming `option`.
Budget parse_budget(const std::string& text, const models::BlockCosts& costs, const models::Tree& shared, const std::string& option);

struct Candidate {
  models::Tree tree;
  double cost = 0;
  std::int64_t params = 0, macs = 0;
};
// The trees within the budget, cheapest first (ties: fewer parameters, then lexicographically
// smaller branch indices). Empty when none fits.
std::vector<Candidate> rank_trees(const std::vector<models::Tree>& trees, const std::vector<torch::Tensor>& affinities,
                                  const models::BlockCosts& costs, const Budget& budget);

// --- Measuring the affinities from single-task runs ---

struct AffinityOptions {
  int images = 500;              // K
  int pool = 0;                  // 0: the flattened block outputs as they are; n: each map average-pooled to n x n first
  double memory_gb = 2.0;        // for the standardised features of one task (beyond it they spill to `cache`)
  fs::path cache;                // spill folder; "" = the system's temporary folder
};

struct Affinity {
  std::vector<std::string> tasks;
  std::vector<std::string> locations;   // block names, e.g. "conv+layer1"
  std::vector<torch::Tensor> matrices;  // [D] N x N
  std::int64_t images = 0;
  std::string features;                 // "flattened block outputs" or "block outputs average-pooled to 4x4"
  OrderedJson to_json() const;
};

// The affinity of `e`'s tasks at each block of its backbone, from the final models of `runs` (one
// single-task run per task, checked as open_single_task_runs checks them), on K images evenly
// spread over the training images the trainer would use (never validation or test images), in
// evaluation mode at the experiment's input size.
Affinity measure_affinity(const Experiment& e, const std::map<std::string, train::Run>& runs, const AffinityOptions& options);

}  // namespace densemtl::branching
