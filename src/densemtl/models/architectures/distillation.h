// The building blocks of the decoder-focused architectures (PAD-Net, MTI-Net, PAP-Net): initial
// per-task predictions and their features, multi-modal distillation of one task's features into
// another's, squeeze-and-excitation, and HRNet's fuse layer. Names are the survey's code's
// (models/padnet.py, models/mti_net.py, models/layers.py, models/seg_hrnet.py), so that its
// checkpoints load by name.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "densemtl/models/architectures/architecture.h"

namespace densemtl::models {

// The tasks a decoder-focused architecture makes initial predictions for: tasks.main and
// tasks.aux together, canonical order (the reference's AUXILARY_TASKS.NAMES, which includes the
// main tasks).
std::vector<std::string> initial_prediction_tasks(const ModelSpec& spec);
// Channels of PAD-Net's (and PAP-Net's) initial task features: 256 in the reference, scaled by
// model.width like every other channel count (a multiple of 4, the Bottlenecks' expansion).
std::int64_t initial_feature_channels(const ModelSpec& spec);
// accepts() of PAD-Net, MTI-Net and PAP-Net: an HRNet-18 trunk and at least two tasks to distil
// between; "" when the spec has them.
std::string accepts_hrnet_distillation(const ModelSpec& spec, const std::string& what);

// Spatial self-attention: SA(x) = conv3x3(x) ⊙ sigmoid(conv3x3'(x)), two bias-free convolutions
// (names attention.0, conv).
class SABlockImpl : public torch::nn::Module {
 public:
  SABlockImpl(std::int64_t in, std::int64_t out);
  torch::Tensor forward(const torch::Tensor& x);
  Conv2d mask_conv{nullptr}, conv{nullptr};
};
TORCH_MODULE(SABlock);

// Squeeze-and-excitation with reduction r: x ⊙ sigmoid(W2 relu(W1 mean_hw(x))) (names squeeze.0,
// squeeze.2; W1 is C → C/r with bias).
class SEBlockImpl : public torch::nn::Module {
 public:
  explicit SEBlockImpl(std::int64_t channels, std::int64_t r = 16);
  torch::Tensor forward(const torch::Tensor& x);
  Linear reduce{nullptr}, expand{nullptr};
};
TORCH_MODULE(SEBlock);

// Multi-modal distillation (PAD-Net's module D, MTI-Net at every scale): for each main task t,
//   D_t = F_t + Σ_{a ∈ initial tasks, a ≠ t} SA_{t,a}(F_a)
// Names self_attention.<t>.<a>.*.
class DistillationImpl : public torch::nn::Module {
 public:
  DistillationImpl(const std::vector<std::string>& tasks, const std::vector<std::string>& initial, std::int64_t channels);
  std::map<std::string, torch::Tensor> forward(const std::map<std::string, torch::Tensor>& features);
  std::map<std::string, std::map<std::string, SABlock>> blocks;  // [t][a]
};
TORCH_MODULE(Distillation);

// HRNet's fuse layer (HighResolutionFuse): the branches upsampled to the first one's size,
// concatenated, conv1x1 (bias) + BN + ReLU (names last_layer.0, last_layer.1).
class HRNetFuseImpl : public torch::nn::Module {
 public:
  explicit HRNetFuseImpl(const std::vector<std::int64_t>& channels);
  torch::Tensor forward(const Features& x);
  std::int64_t channels = 0;

 private:
  torch::nn::Sequential last_layer{nullptr};
  Conv2d conv_{nullptr};
  BatchNorm2d bn_{nullptr};
};
TORCH_MODULE(HRNetFuse);

// Two torchvision Bottlenecks in a Sequential: in → out (projection shortcut when in ≠ out) →
// out, planes out/4 (PAD-Net's per-task refinement).
torch::nn::Sequential bottleneck_pair(std::int64_t in, std::int64_t out);
// Two BasicBlocks: in → out (projection shortcut when in ≠ out) → out (MTI-Net's refinement).
torch::nn::Sequential basic_pair(std::int64_t in, std::int64_t out);

// Initial task predictions on one feature map: per task a refinement (two Bottlenecks to
// `channels`, PAD-Net; two BasicBlocks, MTI-Net) gives the task's features, and a conv1x1 with bias
// its prediction. At MTI-Net's finer scales the input is the map concatenated with the task's
// propagated features from the coarser scale, upsampled. Names <refinement>.<t>, <decoder>.<t>:
// PAD-Net's layers / conv_out, MTI-Net's refinement / decoders.
class TaskPredictionsImpl : public torch::nn::Module {
 public:
  enum class Blocks { Bottleneck, Basic };
  TaskPredictionsImpl(const std::vector<std::string>& tasks, Blocks blocks, const std::string& refinement_name,
                      const std::string& decoder_name, std::int64_t in, std::int64_t channels,
                      const std::map<std::string, std::int64_t>& outputs);
  struct Out {
    std::map<std::string, torch::Tensor> features, predictions;  // per task
  };
  Out forward(const torch::Tensor& x, const std::map<std::string, torch::Tensor>* previous = nullptr);
  std::string refinement_name, decoder_name;
  std::map<std::string, torch::nn::Sequential> refinement;
  std::map<std::string, Conv2d> decoder;
};
TORCH_MODULE(TaskPredictions);

// The base of the decoder-focused models on HRNet: the trunk `backbone`, the HRNet itself or,
// with the fuse layer, the reference's Sequential(hrnet, HighResolutionFuse): backbone.0 the
// HRNet, backbone.1 the fuse layer, both declared as the backbone.
class HRNetDecoderImpl : public ArchitectureImpl {
 public:
  HRNetDecoderImpl(const ModelSpec& spec, bool with_fuse);
  // The tasks exchange information above the trunk.
  bool separable_representation() const override { return false; }
  std::shared_ptr<BackboneImpl> hrnet;
  HRNetFuse fuse{nullptr};  // null without the fuse layer
  // PAD-Net's (and PAP-Net's) initial predictions on the fused map; null in MTI-Net.
  TaskPredictions initial{nullptr};

 protected:
  // The HRNet's four maps and, with the fuse layer, the fused map (else undefined).
  Features trunk(const torch::Tensor& image, torch::Tensor* fused);
  // Declares a task-predictions module registered at `path`: a task's refinement feeds the other
  // tasks too, its decoder only its own loss.
  void declare_task_predictions(const std::string& path, const TaskPredictions& p);
  // Registers and declares `initial` (initial_task_prediction_heads, initial_feature_channels(spec)).
  void add_initial_predictions();
  // The trunk and the initial predictions on the fused map: sets out.representation and adds the
  // deep supervision initial_<t> of every initial-prediction task.
  TaskPredictionsImpl::Out predict_initial(const torch::Tensor& image, ModelOutput& out);
  std::vector<std::string> initial_;  // initial_prediction_tasks(spec)
};

}  // namespace densemtl::models
