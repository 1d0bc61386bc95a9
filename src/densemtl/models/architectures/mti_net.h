// MTI-Net's module structure, visible to the tests (mti_net.cpp has the method).
#pragma once

#include "densemtl/models/architectures/distillation.h"

namespace densemtl::models {

// Feature propagation module at one scale (names non_linear, dimensionality_reduction, se.<t>).
class FPMImpl : public torch::nn::Module {
 public:
  FPMImpl(const std::vector<std::string>& tasks, std::int64_t channels);
  std::map<std::string, torch::Tensor> forward(const std::map<std::string, torch::Tensor>& features);
  // The attention mask of f's output `shared` (B × N·C × H × W): softmax over groups of N adjacent
  // channels, as B × C × N × H × W.
  torch::Tensor mask(const torch::Tensor& shared) const;
  torch::nn::Sequential non_linear{nullptr};
  BasicBlock dimensionality_reduction{nullptr};
  std::map<std::string, SEBlock> se;

 private:
  std::vector<std::string> tasks_;
};
TORCH_MODULE(FPM);

class MtiNetImpl : public HRNetDecoderImpl {
 public:
  static constexpr std::size_t kScales = 4;
  explicit MtiNetImpl(const ModelSpec& spec);
  ModelOutput forward(const torch::Tensor& image) override;

  FPM fpm[kScales] = {nullptr, nullptr, nullptr, nullptr};  // scales 1..3
  TaskPredictions scale[kScales] = {nullptr, nullptr, nullptr, nullptr};
  Distillation distillation[kScales] = {nullptr, nullptr, nullptr, nullptr};
  std::map<std::string, std::shared_ptr<HeadImpl>> heads;
};

}  // namespace densemtl::models
