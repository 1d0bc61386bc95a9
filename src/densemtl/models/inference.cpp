#include "densemtl/models/inference.h"

namespace densemtl::models {

namespace {

void fold(Conv2dImpl& conv, BatchNorm2dImpl& bn) {
  torch::NoGradGuard no_grad;
  torch::Tensor scale = bn.weight / torch::sqrt(bn.running_var + bn.eps);
  conv.weight.mul_(scale.view({-1, 1, 1, 1}));
  torch::Tensor bias = conv.bias.defined() ? conv.bias.clone() : torch::zeros_like(bn.running_mean);
  conv.folded_bias = (bias - bn.running_mean) * scale + bn.bias;
  bn.folded = true;
}

int fold_children(torch::nn::Module& module) {
  int folded = 0;
  auto children = module.children();
  for (std::size_t k = 0; k + 1 < children.size(); ++k) {
    auto* conv = dynamic_cast<Conv2dImpl*>(children[k].get());
    auto* bn = dynamic_cast<BatchNorm2dImpl*>(children[k + 1].get());
    if (conv && bn && !bn->folded) {
      fold(*conv, *bn);
      ++folded;
    }
  }
  for (auto& c : children) folded += fold_children(*c);
  return folded;
}

}  // namespace

int prepare_for_inference(ArchitectureImpl& model, bool channels_last) {
  model.eval();
  int folded = fold_children(model);
  if (channels_last) to_channels_last(model);
  return folded;
}

void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
}

}  // namespace densemtl::models
