#include "densemtl/models/inference.h"

#include <set>

#include "densemtl/core/error.h"
#include "densemtl/core/log.h"
#include "densemtl/core/strings.h"

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

// A transposed convolution's weight is in × out × kh × kw: the scale is per output channel, dim 1.
void fold(ConvTranspose2dImpl& conv, BatchNorm2dImpl& bn) {
  torch::NoGradGuard no_grad;
  torch::Tensor scale = bn.weight / torch::sqrt(bn.running_var + bn.eps);
  conv.weight.mul_(scale.view({1, -1, 1, 1}));
  torch::Tensor bias = conv.bias.defined() ? conv.bias.clone() : torch::zeros_like(bn.running_mean);
  conv.folded_bias = (bias - bn.running_mean) * scale + bn.bias;
  bn.folded = true;
}

}  // namespace

FoldReport prepare_for_inference(ArchitectureImpl& model, bool channels_last) {
  model.eval();
  FoldReport report;
  std::set<const Conv2dImpl*> convs;
  std::set<const ConvTranspose2dImpl*> transposed_convs;
  for (const auto& item : model.named_modules()) {
    auto* bn = dynamic_cast<BatchNorm2dImpl*>(item.value().get());
    if (!bn || bn->folded) continue;
    std::shared_ptr<Conv2dImpl> conv = bn->input.lock();
    if (auto transposed = bn->transposed_input.lock()) {
      if (!transposed_convs.insert(transposed.get()).second)
        fail("internal: {} is declared as the batch norm of a convolution another batch norm already normalises", item.key());
      fold(*transposed, *bn);
      ++report.folded;
      continue;
    }
    if (!conv) {
      report.unfolded.push_back(item.key());
      continue;
    }
    // A convolution normalised twice would be scaled twice: a wrong declaration.
    if (!convs.insert(conv.get()).second)
      fail("internal: {} is declared as the batch norm of a convolution another batch norm already normalises", item.key());
    fold(*conv, *bn);
    ++report.folded;
  }
  if (!report.unfolded.empty())
    log_debug("{} batch norm(s) not declared after a convolution stay unfolded: {}", report.unfolded.size(),
              join(report.unfolded, ", "));
  if (channels_last) to_channels_last(model);
  return report;
}

void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
}

}  // namespace densemtl::models
