// MTI-Net: Vandenhende, Georgoulis & Van Gool, "MTI-Net: Multi-Scale Task Interaction Networks for
// Multi-Task Learning", ECCV 2020; as the survey's code builds it on HRNet-18
// (models/mti_net.py of github.com/SimonVandenhende/Multi-Task-Learning-PyTorch).
//
// HRNet gives x_0..x_3 (18, 36, 72, 144 channels at 1/4..1/32). From the coarsest scale down:
//   s = 3:  F_t^3 = refine(x_3)                         for every initial-prediction task t
//   s < 3:  F_t^s = refine([x_s, up2(P_t^{s+1})])
//           p_t^s = conv1x1(F_t^s)                      initial prediction at scale s
//   s > 0:  P^s   = FPM(F^s)                            feature propagation to the next scale
// FPM: S = f([F_1; ..; F_N]); mask = softmax over groups of N channels of S (the reference's
// view(B, C, N, H, W): adjacent channels, reproduced exactly); S = reduce(mask ⊙ [F_1; ..; F_N]);
// P_t = SE_t(S) + F_t. Then per scale and main task multi-modal distillation
// D_t^s = F_t^s + Σ_{a≠t} SA_{t,a}^s(F_a^s), and the task's HRNet head aggregates D_t^0..D_t^3.
// Every p_t^s is deep supervision (`deep_supervision.scale_<s>.<t>`), a loss term of task t with
// t's weight at every scale. Names: the reference's (scale_<s>.{refinement,decoders}.<t>,
// fpm_scale_<s>.{non_linear,dimensionality_reduction,se.<t>}, distillation_scale_<s>, heads.<t>).
#include "densemtl/models/architectures/mti_net.h"

#include "densemtl/core/error.h"

namespace densemtl::models {

FPMImpl::FPMImpl(const std::vector<std::string>& tasks, std::int64_t channels) : tasks_(tasks) {
  const std::int64_t shared = static_cast<std::int64_t>(tasks.size()) * channels;
  non_linear = register_module("non_linear", basic_pair(shared, shared / 4));
  non_linear->push_back(conv(shared / 4, shared, 1, 1, 0, 1, /*bias=*/true));
  dimensionality_reduction = register_module("dimensionality_reduction", BasicBlock(shared, channels, 1, 1, 1, /*downsample=*/true));
  auto se_dict = register_module("se", torch::nn::ModuleDict());
  for (const auto& t : tasks) {
    SEBlock block(channels);
    add_module(*se_dict, t, block.ptr());
    se.emplace(t, block);
  }
}

torch::Tensor FPMImpl::mask(const torch::Tensor& shared) const {
  const std::int64_t n = static_cast<std::int64_t>(tasks_.size());
  return torch::softmax(shared.reshape({shared.size(0), shared.size(1) / n, n, shared.size(2), shared.size(3)}), 2);
}

std::map<std::string, torch::Tensor> FPMImpl::forward(const std::map<std::string, torch::Tensor>& features) {
  std::vector<torch::Tensor> all;
  for (const auto& t : tasks_) all.push_back(features.at(t));
  torch::Tensor concat = torch::cat(all, 1);
  const std::int64_t b = concat.size(0), c = concat.size(1), h = concat.size(2), w = concat.size(3);
  const std::int64_t n = static_cast<std::int64_t>(tasks_.size());
  torch::Tensor m = mask(non_linear->forward(concat));
  torch::Tensor shared = (m * concat.reshape({b, c / n, n, h, w})).reshape({b, c, h, w});
  shared = dimensionality_reduction->forward(shared);
  std::map<std::string, torch::Tensor> out;
  for (const auto& t : tasks_) out[t] = se.at(t)->forward(shared) + features.at(t);
  return out;
}

MtiNetImpl::MtiNetImpl(const ModelSpec& spec) : HRNetDecoderImpl(spec, /*fuse=*/false) {
  const std::vector<std::int64_t> c = hrnet->out_channels();
  if (c.size() != kScales) fail("internal: mti_net needs a backbone with {} scales", kScales);
  for (std::size_t s = kScales - 1; s >= 1; --s) {
    const std::string name = "fpm_scale_" + std::to_string(s);
    fpm[s] = register_module(name, FPM(initial_, c[s]));
    declare(name, fpm[s].ptr(), Component::Other, ParameterGroup::cross_task());
  }
  for (std::size_t s = 0; s < kScales; ++s) {
    const std::string name = "scale_" + std::to_string(s);
    scale[s] = register_module(name, TaskPredictions(initial_, TaskPredictionsImpl::Blocks::Basic, "refinement", "decoders",
                                                     s + 1 < kScales ? c[s] + c[s + 1] : c[s], c[s], spec.outputs));
    declare_task_predictions(name, scale[s]);
  }
  for (std::size_t s = 0; s < kScales; ++s) {
    const std::string name = "distillation_scale_" + std::to_string(s);
    distillation[s] = register_module(name, Distillation(spec.tasks, initial_, c[s]));
    declare(name, distillation[s].ptr(), Component::Other, ParameterGroup::cross_task());
  }
  heads = add_task_heads("heads", c);
}

ModelOutput MtiNetImpl::forward(const torch::Tensor& image) {
  Features x = trunk(image, nullptr);
  ModelOutput out;
  out.representation = share(x);
  TaskPredictionsImpl::Out f[kScales];
  std::map<std::string, torch::Tensor> propagated;
  for (std::size_t s = kScales; s-- > 0;) {
    f[s] = scale[s]->forward(x[s], s + 1 < kScales ? &propagated : nullptr);
    if (s > 0) propagated = fpm[s]->forward(f[s].features);
  }
  for (std::size_t s = 0; s < kScales; ++s)
    for (const auto& t : initial_) {
      const std::string scale = "deep_supervision.scale_" + std::to_string(s) + ".";
      out.aux.push_back({scale + t, t, f[s].predictions.at(t)});
      out.features.emplace_back(scale + "features_" + t, f[s].features.at(t));
    }
  std::map<std::string, Features> distilled;
  for (std::size_t s = 0; s < kScales; ++s)
    for (auto& [t, d] : distillation[s]->forward(f[s].features)) distilled[t].push_back(d);
  for (const auto& t : spec_.tasks) out.tasks[t] = upsample(heads.at(t)->forward(distilled.at(t)), image.size(2), image.size(3));
  return out;
}

namespace {
std::string accepts(const ModelSpec& spec) { return accepts_hrnet_distillation(spec, "propagates and distils features across tasks"); }
}  // namespace

DENSEMTL_REGISTER(ArchitectureEntry, {"mti_net", 65,
                                      "MTI-Net (Vandenhende et al. 2020): initial predictions at four scales, feature propagation "
                                      "between scales, distillation per scale, aggregation (HRNet-18)",
                                      architecture<MtiNetImpl>, ArchitectureEntry::Role::MultiTask, {}, accepts, "MTI-Net"});

}  // namespace densemtl::models
