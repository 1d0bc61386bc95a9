// Task heads: features from a backbone -> one task's prediction at the features' resolution.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "densemtl/models/layers.h"

namespace densemtl::models {

// A head's prediction and the features it was computed from (the input of its last, linear
// layer): decoder-focused architectures (PAD-Net, MTI-Net) distil such features across tasks.
struct HeadOutput {
  torch::Tensor logits;
  torch::Tensor features;
};

class HeadImpl : public torch::nn::Module {
 public:
  ~HeadImpl() override = default;
  virtual HeadOutput forward_with_features(const Features& features) = 0;
  torch::Tensor forward(const Features& features) { return forward_with_features(features).logits; }
};

struct HeadSpec {
  std::string name;  // deeplab | hrnet
  double width = 1.0;
};

std::shared_ptr<HeadImpl> make_head(const HeadSpec& spec, const std::vector<std::int64_t>& in_channels, std::int64_t outputs);

}  // namespace densemtl::models
