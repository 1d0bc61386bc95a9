// HRNet head (the reference's HighResolutionHead): the branches upsampled to the first one's
// size, concatenated (270 channels for W18), conv1x1 (with bias) + BN + ReLU (the head's
// features), conv1x1 to the outputs. Names: last_layer.{0, 1, 3}.
#pragma once

#include "densemtl/models/heads/head.h"

namespace densemtl::models {

class HRNetHeadImpl : public HeadImpl {
 public:
  HRNetHeadImpl(const std::vector<std::int64_t>& in_channels, std::int64_t outputs);
  HeadOutput forward_with_features(const Features& features) override;

 private:
  torch::nn::Sequential last_layer{nullptr};  // [fuse_, bn_, ReLU, classifier_], the reference's names
  Conv2d fuse_{nullptr}, classifier_{nullptr};
  BatchNorm2d bn_{nullptr};
};

}  // namespace densemtl::models
