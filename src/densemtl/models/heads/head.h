// Task heads: features from a backbone -> one task's prediction at the features' resolution.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "densemtl/models/layers.h"

namespace densemtl::models {

class HeadImpl : public torch::nn::Module {
 public:
  ~HeadImpl() override = default;
  virtual torch::Tensor forward(const Features& features) = 0;
};

struct HeadSpec {
  std::string name;  // deeplab | hrnet
  double width = 1.0;
};

std::shared_ptr<HeadImpl> make_head(const HeadSpec& spec, const std::vector<std::int64_t>& in_channels, std::int64_t outputs);

}  // namespace densemtl::models
