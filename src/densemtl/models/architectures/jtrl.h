// JTRL's task-attentional module and recursion (jtrl.cpp has the architecture). Visible to the
// tests.
#pragma once

#include "densemtl/models/architectures/distillation.h"

namespace densemtl::models {

// Task-Attentional Module of JTRL (Zhang et al., ECCV 2018; the structure two independent
// re-implementations agree on, kernel sizes [unconfirmed]) on f_a (the task's previous state) and
// f_b (the other task's latest state), both B × C × h × w:
//   balance  B   = σ(g_B([f_a; f_b])),  f_B = g_F(B ⊙ f_a + (1 − B) ⊙ f_b)
//   attention M  = σ(g_M(f_B))          two stride-2 convs, two stride-2 transposed convs
//   output       g_O([(1 + M) ⊙ f_a; (1 + M) ⊙ f_b])
// Names balance.{0,1,3}, fuse.{0,1}, attention.{0,1,3,4,6,7,9}, out.{0,1}.
class TaskAttentionImpl : public torch::nn::Module {
 public:
  explicit TaskAttentionImpl(std::int64_t channels);
  struct Out {
    torch::Tensor output, balance, mask;
  };
  Out forward_all(const torch::Tensor& own, const torch::Tensor& other);
  torch::Tensor forward(const torch::Tensor& own, const torch::Tensor& other) { return forward_all(own, other).output; }
  torch::nn::Sequential balance{nullptr}, fuse{nullptr}, attention{nullptr}, out{nullptr};
};
TORCH_MODULE(TaskAttention);

// Zhang et al., "Joint Task-Recursive Learning for Semantic Segmentation and Depth Estimation",
// ECCV 2018, on HRNet-18.
class JtrlImpl : public ArchitectureImpl {
 public:
  explicit JtrlImpl(const ModelSpec& spec);
  ModelOutput forward(const torch::Tensor& image) override;
  bool separable_representation() const override { return false; }
  int slices() const { return slices_; }
  // The states in the order the last forward computed them ("D1", "S1", "D2", ...).
  std::vector<std::string> last_order;

  // Per slice t (0-based) and task ("depth", "semseg"): TAM, Φ (two BasicBlocks) and the
  // prediction conv.
  std::vector<std::map<std::string, TaskAttention>> tam;
  std::vector<std::map<std::string, torch::nn::Sequential>> phi;
  std::vector<std::map<std::string, Conv2d>> predict;

 private:
  std::shared_ptr<BackboneImpl> hrnet_;
  std::map<std::string, torch::nn::Sequential> initial_state_;
  int slices_;
};

}  // namespace densemtl::models
