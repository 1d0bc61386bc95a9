// PAD-Net's module structure, visible to the tests (pad_net.cpp has the method).
#pragma once

#include "densemtl/models/architectures/distillation.h"

namespace densemtl::models {

class PadNetImpl : public HRNetDecoderImpl {
 public:
  explicit PadNetImpl(const ModelSpec& spec);
  ModelOutput forward(const torch::Tensor& image) override;

  Distillation distillation{nullptr};
  std::map<std::string, torch::nn::Sequential> heads;
};

}  // namespace densemtl::models
