// DeepLab-v3 head (the reference's models/aspp.py, torchvision's layout): ASPP with rates
// 12, 24, 36 and image pooling (five 256-channel branches, concatenated, projected to 256,
// dropout 0.5), then conv3x3 + BN + ReLU (the head's features) and a conv1x1 to the outputs.
// Uses the last feature map.
// Names: 0.convs.{0..4}, 0.project, 1, 2, 4 (as the reference's nn.Sequential).
#pragma once

#include "densemtl/models/heads/head.h"

namespace densemtl::models {

class AsppPoolingImpl : public torch::nn::Module {
 public:
  AsppPoolingImpl(std::int64_t in, std::int64_t out);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  Conv2d conv{nullptr};
  BatchNorm2d bn{nullptr};
};
TORCH_MODULE(AsppPooling);

class AsppImpl : public torch::nn::Module {
 public:
  AsppImpl(std::int64_t in, std::int64_t out, const std::vector<std::int64_t>& rates);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::ModuleList convs{nullptr};
  torch::nn::Sequential project{nullptr};
  std::size_t n_ = 0;
};
TORCH_MODULE(Aspp);

class DeepLabHeadImpl : public HeadImpl {
 public:
  DeepLabHeadImpl(std::int64_t in, std::int64_t outputs, double width);
  HeadOutput forward_with_features(const Features& features) override;

 private:
  Aspp aspp{nullptr};
  Conv2d conv{nullptr}, classifier{nullptr};
  BatchNorm2d bn{nullptr};
};

}  // namespace densemtl::models
