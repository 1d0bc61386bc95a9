// HRNet-W18-small-v2 (the reference's seg_hrnet.py with hrnet_w18.yml): a stem of two strided
// 3x3 convs, stage 1 of two Bottlenecks (64 -> 256 channels), then stages 2-4 with 2, 3 and 4
// parallel branches ([18, 36], [18, 36, 72], [18, 36, 72, 144] channels; 1, 3 and 2 modules of
// two BasicBlocks per branch) joined by transition layers, each module ending in fuse layers that
// exchange information between all branches. Batch-norm momentum 0.01 throughout.
// Stages: stem (convs + layer1), stage2, stage3, stage4.
#pragma once

#include "densemtl/models/backbones/backbone.h"

namespace densemtl::models {

class HighResolutionModuleImpl : public torch::nn::Module {
 public:
  HighResolutionModuleImpl(const std::vector<std::int64_t>& channels, int blocks);
  Features forward(Features x);

 private:
  torch::nn::ModuleList branches{nullptr};
  Indexed fuse_layers{nullptr};
  std::size_t n_;
};
TORCH_MODULE(HighResolutionModule);

class HRNetImpl : public BackboneImpl {
 public:
  explicit HRNetImpl(double width);
  std::vector<std::string> stage_names() const override;
  Features forward_stage(std::size_t stage, const Features& input) override;
  std::vector<std::int64_t> stage_channels(std::size_t stage) const override;
  std::vector<std::string> stage_modules(std::size_t stage) const override;

 private:
  Indexed make_transition(const std::vector<std::int64_t>& previous, const std::vector<std::int64_t>& current);
  Features run_transition(const Indexed& t, const Features& x, std::size_t branches);

  Conv2d conv1{nullptr}, conv2{nullptr};
  BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential layer1{nullptr};
  torch::nn::ModuleList stage2{nullptr}, stage3{nullptr}, stage4{nullptr};
  Indexed transition1{nullptr}, transition2{nullptr}, transition3{nullptr};
  std::vector<std::vector<std::int64_t>> channels_;
};

}  // namespace densemtl::models
