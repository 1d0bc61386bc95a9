// Preparing a trained network for inference: evaluation mode, every batch norm folded into the
// convolution before it (W' = W g / s, b' = (b - mean) g / s + beta with s = sqrt(var + eps)),
// so a convolution and its normalisation run as one convolution with bias. The network is
// changed in place and is for inference only afterwards.
#pragma once

#include "densemtl/models/architectures/architecture.h"

namespace densemtl::models {

// Returns the number of batch norms folded. With `channels_last`, convolution weights are stored
// NHWC as well (feed NHWC inputs then: to_channels_last()).
int prepare_for_inference(ArchitectureImpl& model, bool channels_last = false);

// Stores every 4-D parameter and buffer of `module` in channels-last (NHWC) memory order.
void to_channels_last(torch::nn::Module& module);

}  // namespace densemtl::models
