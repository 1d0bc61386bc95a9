// Preparing a trained network for inference: evaluation mode, every batch norm folded into the
// convolution it was declared to normalise (batch_norm(conv), models/layers.h):
// W' = W g / s, b' = (b - mean) g / s + beta with s = sqrt(var + eps), so a convolution and its
// normalisation run as one convolution with bias. A batch norm without such a declaration is never
// folded (it keeps normalising in evaluation mode, which is correct, only slower) and is named in
// the report. The network is changed in place and is for inference only afterwards.
#pragma once

#include <string>
#include <vector>

#include "densemtl/models/architectures/architecture.h"

namespace densemtl::models {

struct FoldReport {
  int folded = 0;
  std::vector<std::string> unfolded;  // module paths of batch norms left as they are
};

// With `channels_last`, convolution weights are stored NHWC as well (feed NHWC inputs then:
// to_channels_last()).
FoldReport prepare_for_inference(ArchitectureImpl& model, bool channels_last = false);

// Stores every 4-D parameter and buffer of `module` in channels-last (NHWC) memory order.
void to_channels_last(torch::nn::Module& module);

}  // namespace densemtl::models
