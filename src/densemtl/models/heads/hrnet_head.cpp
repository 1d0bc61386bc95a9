#include "densemtl/models/heads/hrnet_head.h"

#include <numeric>

#include "densemtl/core/error.h"
#include "densemtl/models/heads/deeplab.h"

namespace densemtl::models {

HRNetHeadImpl::HRNetHeadImpl(const std::vector<std::int64_t>& in_channels, std::int64_t outputs) {
  std::int64_t c = std::accumulate(in_channels.begin(), in_channels.end(), std::int64_t{0});
  fuse_ = conv(c, c, 1, 1, 0, 1, true);
  bn_ = batch_norm(fuse_);
  classifier_ = conv(c, outputs, 1, 1, 0, 1, true);
  last_layer = torch::nn::Sequential();
  last_layer->push_back(fuse_);
  last_layer->push_back(bn_);
  last_layer->push_back(torch::nn::ReLU());
  last_layer->push_back(classifier_);
  register_module("last_layer", last_layer);
}

HeadOutput HRNetHeadImpl::forward_with_features(const Features& f) {
  std::vector<torch::Tensor> maps{f[0]};
  for (std::size_t i = 1; i < f.size(); ++i) maps.push_back(upsample(f[i], f[0].size(2), f[0].size(3)));
  torch::Tensor x = torch::relu(bn_(fuse_(torch::cat(maps, 1))));
  return {classifier_(x), x};
}

std::shared_ptr<HeadImpl> make_head(const HeadSpec& spec, const std::vector<std::int64_t>& in, std::int64_t outputs) {
  if (spec.name == "deeplab") return std::make_shared<DeepLabHeadImpl>(in.back(), outputs, spec.width);
  if (spec.name == "hrnet") {
    if (in.size() < 2) fail("the hrnet head needs a multi-scale backbone (hrnet_w18), not a single feature map");
    return std::make_shared<HRNetHeadImpl>(in, outputs);
  }
  fail("unknown head '{}' (deeplab, hrnet)", spec.name);
}

}  // namespace densemtl::models
