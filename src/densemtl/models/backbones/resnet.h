// ResNet-18 / ResNet-50 (torchvision v1.5) without avgpool and fc, dilated to output stride 8 as
// the reference's ResnetDilated: in layer3 the strided conv loses its stride (a strided 3x3 gets
// dilation 1, the other 3x3 convs dilation 2), in layer4 likewise with dilations 2 and 4.
// Stages: conv (stem + maxpool), layer1, layer2, layer3, layer4.
#pragma once

#include "densemtl/models/backbones/backbone.h"

namespace densemtl::models {

class ResNetImpl : public BackboneImpl {
 public:
  ResNetImpl(int depth, bool dilated, double width);
  std::vector<std::string> stage_names() const override;
  Features forward_stage(std::size_t stage, const Features& input) override;
  std::vector<std::int64_t> stage_channels(std::size_t stage) const override;
  std::vector<std::string> stage_modules(std::size_t stage) const override;
  // Blocks: conv+layer1, layer2, layer3, layer4 (the stem has no residual block of its own).
  std::vector<std::size_t> block_ends() const override { return {2, 3, 4, 5}; }
  // The residual blocks of stage `stage` (1..4, layer1..layer4) one by one, for architectures that
  // read a layer's features before its last block (MTAN): the number of blocks, and blocks
  // [first, end) applied to `x`.
  std::size_t blocks(std::size_t stage) const;
  torch::Tensor forward_blocks(std::size_t stage, torch::Tensor x, std::size_t first, std::size_t end);

 private:
  torch::nn::Sequential& layer(std::size_t stage);
  const torch::nn::Sequential& layer(std::size_t stage) const;
  template <typename Block>
  torch::nn::Sequential make_layer(std::int64_t& inplanes, std::int64_t planes, int blocks, std::int64_t stride, int dilate);

  Conv2d conv1{nullptr};
  BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  std::vector<std::int64_t> channels_;
};

}  // namespace densemtl::models
