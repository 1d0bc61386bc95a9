// PAD-Net: Xu, Ouyang, Wang & Sebe, "PAD-Net: Multi-Tasks Guided Prediction-and-Distillation
// Network for Simultaneous Depth Estimation and Scene Parsing", CVPR 2018; the HRNet-18 version of
// the survey's code (spec 2.8).
//
//   F        = fuse(HRNet(x))                          270 channels at 1/4
//   F_a, p_a = initial prediction of every task a      (two Bottlenecks → 256 ch; conv1x1 → p_a)
//   D_t      = F_t + Σ_{a≠t} SA_{t,a}(F_a)             multi-modal distillation, each main task t
//   y_t      = up(conv1x1(Bottleneck(Bottleneck(D_t))))
//
// The initial predictions p_a of tasks.main and tasks.aux are deep supervision (`initial_<a>`),
// each a loss term of its task. Names (the reference's state dict): backbone.0.* (HRNet),
// backbone.1.* (fuse), initial_task_prediction_heads.{layers,conv_out}.<a>.*,
// multi_modal_distillation.self_attention.<t>.<a>.*, heads.<t>.{0,1,2}.*.
#include "densemtl/models/architectures/pad_net.h"

namespace densemtl::models {

PadNetImpl::PadNetImpl(const ModelSpec& spec) : HRNetDecoderImpl(spec, /*fuse=*/true) {
  const std::int64_t feature_channels = initial_feature_channels(spec);
  initial = register_module("initial_task_prediction_heads",
                            InitialPredictions(initial_, fuse->channels, feature_channels, spec.outputs));
  for (const auto& a : initial_) {
    // A task's initial features also feed the other tasks' distillation.
    declare("initial_task_prediction_heads.layers." + a, initial->layers.at(a).ptr(), Component::Other,
            ParameterGroup::of_task(a, /*exclusive=*/false));
    declare("initial_task_prediction_heads.conv_out." + a, initial->conv_out.at(a).ptr(), Component::Other,
            ParameterGroup::of_task(a));
  }
  distillation = register_module("multi_modal_distillation", Distillation(spec.tasks, initial_, feature_channels));
  declare("multi_modal_distillation", distillation.ptr(), Component::Other, ParameterGroup::cross_task());
  auto dict = register_module("heads", torch::nn::ModuleDict());
  for (const auto& t : spec.tasks) {
    torch::nn::Sequential head = bottleneck_pair(feature_channels, feature_channels);
    head->push_back(conv(feature_channels, spec.outputs.at(t), 1, 1, 0, 1, /*bias=*/true));
    add_module(*dict, t, head.ptr());
    declare("heads." + t, head.ptr(), Component::Head, ParameterGroup::of_task(t));
    heads.emplace(t, head);
  }
}

ModelOutput PadNetImpl::forward(const torch::Tensor& image) {
  torch::Tensor fused;
  trunk(image, &fused);
  ModelOutput out;
  out.representation = share({fused});
  InitialPredictionsImpl::Out x = initial->forward(fused);
  for (const auto& a : initial_) out.aux.push_back({"initial_" + a, a, x.predictions.at(a)});
  std::map<std::string, torch::Tensor> d = distillation->forward(x.features);
  for (const auto& t : spec_.tasks) out.tasks[t] = upsample(heads.at(t)->forward(d.at(t)), image.size(2), image.size(3));
  return out;
}

namespace {
std::string accepts(const ModelSpec& spec) { return accepts_hrnet_distillation(spec, "distils initial predictions across tasks"); }
}  // namespace

DENSEMTL_REGISTER(ArchitectureEntry, {"pad_net", 60,
                                      "PAD-Net (Xu et al. 2018): initial predictions of every task, distilled into each main task "
                                      "by spatial attention (HRNet-18)",
                                      architecture<PadNetImpl>, ArchitectureEntry::Role::MultiTask, {}, accepts, "PAD-Net"});

}  // namespace densemtl::models
