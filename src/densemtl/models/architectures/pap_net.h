// PAP-Net's propagation (pap_net.cpp has the architecture): task-specific pixel affinities,
// combined across tasks and diffused through a task's features. Visible to the tests.
#pragma once

#include "densemtl/models/architectures/distillation.h"

namespace densemtl::models::pap {

// How pair scores become a row-stochastic affinity matrix M (M ≥ 0, M·1 = 1).
//  row_softmax: M[i,j] = exp(⟨φ_i, φ_j⟩) / Σ_k exp(⟨φ_i, φ_k⟩)   (the non-local "embedded Gaussian")
//  row_sum:     M[i,j] = cos(φ⁺_i, φ⁺_j) / Σ_k cos(φ⁺_i, φ⁺_k), φ⁺ = relu(φ) + 1e-6 (so every
//               cosine is positive and every row has mass)
enum class Normalisation { RowSoftmax, RowSum };
Normalisation parse_normalisation(const std::string& name);  // "row_softmax" | "row_sum"

// The affinities of the tasks at one propagation resolution: M_j of embeddings Φ_j (B × N × C).
// Dense: M_j is formed (B × N × N). Factorised (row_sum only): M_j·X = D_j⁻¹ Φ̃_j (Φ̃_jᵀ X) with
// Φ̃ the row-normalised φ⁺ and D_j = diag(Φ̃_j Φ̃_jᵀ 1): O(N·C) memory, no N × N tensor.
class Affinities {
 public:
  Affinities(const std::vector<torch::Tensor>& embeddings, Normalisation normalisation, bool factorised);
  std::size_t size() const { return dense_.empty() ? unit_.size() : dense_.size(); }
  // M_j (B × N × N); formed on demand in the factorised case (tests).
  torch::Tensor matrix(std::size_t j) const;
  // M_j · X for X of B × N × C'.
  torch::Tensor apply(std::size_t j, const torch::Tensor& x) const;
  // M̂ · X = Σ_j α_j (M_j · X), M̂ never formed.
  torch::Tensor apply_combined(const torch::Tensor& alpha, const torch::Tensor& x) const;

 private:
  std::vector<torch::Tensor> dense_;             // M_j
  std::vector<torch::Tensor> unit_, inv_degree_;  // Φ̃_j, 1 / (Φ̃_j Φ̃_jᵀ 1)
};

// K steps of random walk with restart: X^{k+1} = β·M̂·X^k + (1 − β)·X^0, M̂ = Σ_j α_j M_j.
torch::Tensor diffuse(const Affinities& m, const torch::Tensor& alpha, const torch::Tensor& x0, double beta, int steps);

}  // namespace densemtl::models::pap

namespace densemtl::models {

// Zhang et al., "Pattern-Affinitive Propagation across Depth, Surface Normal and Semantic
// Segmentation", CVPR 2019, on the HRNet-18 trunk of PAD-Net.
class PapNetImpl : public HRNetDecoderImpl {
 public:
  explicit PapNetImpl(const ModelSpec& spec);
  ModelOutput forward(const torch::Tensor& image) override;
  // α_t = softmax(w_t) for every main task t (rows, spec.tasks order) over the initial-prediction
  // tasks (columns).
  torch::Tensor alpha() const;

  std::map<std::string, Conv2d> embedding;                  // φ_t, conv1x1 256 → C_a
  torch::Tensor combination;                                // w: T_main × T_initial
  std::map<std::string, torch::nn::Sequential> reconstruction;

 private:
  std::int64_t resolution_, embedding_channels_;
  int steps_;
  double beta_;
  pap::Normalisation normalisation_;
  bool factorised_;
};

}  // namespace densemtl::models
