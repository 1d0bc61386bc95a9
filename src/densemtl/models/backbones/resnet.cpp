#include "densemtl/models/backbones/resnet.h"

#include "densemtl/core/error.h"

namespace densemtl::models {

Features BackboneImpl::forward(const torch::Tensor& image) {
  Features f{image};
  for (std::size_t s = 0; s < stage_names().size(); ++s) f = forward_stage(s, f);
  return f;
}

std::vector<std::size_t> BackboneImpl::block_ends() const {
  std::vector<std::size_t> ends;
  for (std::size_t s = 1; s <= stage_names().size(); ++s) ends.push_back(s);
  return ends;
}

void BackboneImpl::keep_stages(std::size_t first, std::size_t end) {
  for (std::size_t s = 0; s < stage_names().size(); ++s) {
    if (s >= first && s < end) continue;
    for (const auto& name : stage_modules(s)) {
      std::shared_ptr<torch::nn::Module> child = named_children()[name];
      for (auto& t : child->parameters()) t.set_data(torch::empty({0}, t.options()));
      for (auto& t : child->buffers()) t.set_data(torch::empty({0}, t.options()));
      unregister_module(name);
    }
  }
}

ResNetImpl::ResNetImpl(int depth, bool dilated, double width) {
  std::vector<int> blocks;
  if (depth == 18) blocks = {2, 2, 2, 2};
  else if (depth == 50) blocks = {3, 4, 6, 3};
  else fail("unsupported ResNet depth {}", depth);
  std::int64_t inplanes = scaled(64, width);
  conv1 = register_module("conv1", conv(3, inplanes, 7, 2, 3));
  bn1 = register_module("bn1", batch_norm(conv1));
  channels_.push_back(inplanes);
  const std::int64_t planes[4] = {scaled(64, width), scaled(128, width), scaled(256, width), scaled(512, width)};
  auto layer = [&](int i, std::int64_t stride, int dilate) {
    return depth == 18 ? make_layer<BasicBlock>(inplanes, planes[i], blocks[static_cast<std::size_t>(i)], stride, dilate)
                       : make_layer<Bottleneck>(inplanes, planes[i], blocks[static_cast<std::size_t>(i)], stride, dilate);
  };
  layer1 = register_module("layer1", layer(0, 1, 1));
  channels_.push_back(inplanes);
  layer2 = register_module("layer2", layer(1, 2, 1));
  channels_.push_back(inplanes);
  layer3 = register_module("layer3", layer(2, 2, dilated ? 2 : 1));
  channels_.push_back(inplanes);
  layer4 = register_module("layer4", layer(3, 2, dilated ? 4 : 1));
  channels_.push_back(inplanes);
  init_resnet_style(*this);
}

template <typename Block>
torch::nn::Sequential ResNetImpl::make_layer(std::int64_t& inplanes, std::int64_t planes, int blocks, std::int64_t stride,
                                             int dilate) {
  torch::nn::Sequential seq;
  const std::int64_t expansion = Block::Impl::kExpansion;
  // Dilated layers: the stride becomes 1; the formerly strided 3x3 gets dilation dilate/2, every
  // other 3x3 gets `dilate` (the reference's _nostride_dilate).
  std::int64_t first_stride = dilate > 1 ? 1 : stride;
  std::int64_t first_dilation = dilate > 1 ? (stride > 1 ? dilate / 2 : dilate) : 1;
  bool downsample = stride != 1 || inplanes != planes * expansion;
  seq->push_back(Block(inplanes, planes, first_stride, first_dilation, dilate, downsample));
  inplanes = planes * expansion;
  for (int i = 1; i < blocks; ++i) seq->push_back(Block(inplanes, planes, 1, dilate, dilate, false));
  return seq;
}

std::vector<std::string> ResNetImpl::stage_names() const { return {"conv", "layer1", "layer2", "layer3", "layer4"}; }

std::vector<std::string> ResNetImpl::stage_modules(std::size_t stage) const {
  if (stage == 0) return {"conv1", "bn1"};
  if (stage <= 4) return {"layer" + std::to_string(stage)};
  fail("ResNet has no stage {}", stage);
}

Features ResNetImpl::forward_stage(std::size_t stage, const Features& in) {
  const torch::Tensor& x = in.at(0);
  switch (stage) {
    case 0: {
      namespace F = torch::nn::functional;
      torch::Tensor y = bn1(conv1(x)).relu_();
      return {F::max_pool2d(y, F::MaxPool2dFuncOptions(3).stride(2).padding(1))};
    }
    case 1: return {layer1->forward(x)};
    case 2: return {layer2->forward(x)};
    case 3: return {layer3->forward(x)};
    case 4: return {layer4->forward(x)};
    default: fail("ResNet has no stage {}", stage);
  }
}

std::vector<std::int64_t> ResNetImpl::stage_channels(std::size_t stage) const { return {channels_.at(stage)}; }

torch::nn::Sequential& ResNetImpl::layer(std::size_t stage) {
  switch (stage) {
    case 1: return layer1;
    case 2: return layer2;
    case 3: return layer3;
    case 4: return layer4;
    default: fail("internal: ResNet stage {} has no residual blocks", stage);
  }
}

const torch::nn::Sequential& ResNetImpl::layer(std::size_t stage) const { return const_cast<ResNetImpl*>(this)->layer(stage); }

std::size_t ResNetImpl::blocks(std::size_t stage) const { return layer(stage)->size(); }

torch::Tensor ResNetImpl::forward_blocks(std::size_t stage, torch::Tensor x, std::size_t first, std::size_t end) {
  torch::nn::Sequential& seq = layer(stage);
  if (first > end || end > seq->size()) fail("internal: blocks [{}, {}) of a ResNet layer of {}", first, end, seq->size());
  for (auto it = seq->begin() + static_cast<std::ptrdiff_t>(first); it != seq->begin() + static_cast<std::ptrdiff_t>(end); ++it)
    x = it->forward(x);
  return x;
}

}  // namespace densemtl::models
