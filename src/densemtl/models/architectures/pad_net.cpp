// PAD-Net: Xu, Ouyang, Wang & Sebe, "PAD-Net: Multi-Tasks Guided Prediction-and-Distillation
// Network for Simultaneous Depth Estimation and Scene Parsing", CVPR 2018; the HRNet-18 version of
// the survey's code (models/padnet.py of github.com/SimonVandenhende/Multi-Task-Learning-PyTorch).
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
  const std::int64_t channels = initial_feature_channels(spec);
  add_initial_predictions();
  distillation = register_module("multi_modal_distillation", Distillation(spec.tasks, initial_, channels));
  declare("multi_modal_distillation", distillation.ptr(), Component::Other, ParameterGroup::cross_task());
  auto dict = register_module("heads", torch::nn::ModuleDict());
  for (const auto& t : spec.tasks) {
    torch::nn::Sequential head = bottleneck_pair(channels, channels);
    head->push_back(conv(channels, spec.outputs.at(t), 1, 1, 0, 1, /*bias=*/true));
    add_module(*dict, t, head.ptr());
    declare("heads." + t, head.ptr(), Component::Head, ParameterGroup::of_task(t));
    heads.emplace(t, head);
  }
}

ModelOutput PadNetImpl::forward(const torch::Tensor& image) {
  ModelOutput out;
  std::map<std::string, torch::Tensor> d = distillation->forward(predict_initial(image, out).features);
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
