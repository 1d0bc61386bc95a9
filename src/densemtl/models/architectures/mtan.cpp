// MTAN: task attention over a shared network. Liu, Johns & Davison, "End-to-End Multi-Task Learning
// with Attention", CVPR 2019; the ResNet re-implementation of the survey's code
// (models/mtan.py of github.com/SimonVandenhende/Multi-Task-Learning-PyTorch).
//
// One shared dilated ResNet runs as usual. Each of its four residual layers k gives u_k^b (the
// features before the layer's last block) and u_k^t (after it). Per task t and layer k an attention
// module (conv1x1 + BN + ReLU + conv1x1 + BN + sigmoid) computes a mask from u_1^b (k = 1) or from
// [u_k^b, a_{k-1}^t] (k > 1), and the task's features are
//   a_k^t = mask_k^t ⊙ u_k^t,   then for k < 4:  a_k^t ← pool_k(refine_k(a_k^t))
// with refine_k one Bottleneck (C_k → C_{k+1}, projection shortcut) shared by all tasks and pool_k a
// 2x2 max pooling where the trunk halves the resolution (after layer1 of the dilated ResNet). Each
// task's head reads a_4^t. Names (the reference's state dict): backbone.*, attention_<k>.<task>.*,
// refine_<k>.0.*, heads.<task>.*.
#include <torch/torch.h>

#include "densemtl/models/architectures/architecture.h"
#include "densemtl/models/backbones/resnet.h"

namespace densemtl::models {

namespace {

// conv1x1(in → mid, bias) + BN + ReLU + conv1x1(mid → out, bias) + BN + sigmoid (Sequential indices 0..5).
torch::nn::Sequential attention_layer(std::int64_t in, std::int64_t mid, std::int64_t out) {
  torch::nn::Sequential s;
  Conv2d first = conv(in, mid, 1, 1, 0, 1, /*bias=*/true);
  s->push_back(first);
  s->push_back(batch_norm(first));
  s->push_back(torch::nn::ReLU());
  Conv2d second = conv(mid, out, 1, 1, 0, 1, /*bias=*/true);
  s->push_back(second);
  s->push_back(batch_norm(second));
  s->push_back(torch::nn::Sigmoid());
  return s;
}

class MtanImpl : public ArchitectureImpl {
 public:
  explicit MtanImpl(const ModelSpec& spec) : ArchitectureImpl(spec) {
    std::shared_ptr<BackboneImpl> backbone = register_module("backbone", make_backbone(spec.backbone));
    declare("backbone", backbone, Component::Backbone, ParameterGroup::shared());
    resnet_ = std::dynamic_pointer_cast<ResNetImpl>(backbone);
    if (!resnet_) fail("internal: mtan built on a backbone that is not a ResNet");
    std::vector<std::int64_t> c(5);
    for (std::size_t k = 1; k <= 4; ++k) c[k] = resnet_->stage_channels(k).at(0);
    for (std::size_t k = 1; k <= 4; ++k) {
      auto dict = register_module("attention_" + std::to_string(k), torch::nn::ModuleDict());
      for (const auto& t : spec.tasks) {
        torch::nn::Sequential a = attention_layer(k == 1 ? c[1] : 2 * c[k], c[k] / 4, c[k]);
        dict->update(std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>>{{t, a.ptr()}});
        declare("attention_" + std::to_string(k) + "." + t, a.ptr(), Component::Other, ParameterGroup::of_task(t));
        attention_[k][t] = a;
      }
    }
    for (std::size_t k = 1; k <= 3; ++k) {
      torch::nn::Sequential refine;
      refine->push_back(Bottleneck(c[k], c[k + 1] / 4, 1, 1, 1, /*downsample=*/true));
      register_module("refine_" + std::to_string(k), refine);
      declare("refine_" + std::to_string(k), refine.ptr(), Component::Other, ParameterGroup::shared());
      refine_[k] = refine;
    }
    // Where the trunk halves the resolution after a layer: layer1 → layer2 always; with the
    // undilated ResNet after layer2 and layer3 too (the reference's `downsample` dict).
    for (std::size_t k = 1; k <= 3; ++k) pool_[k] = k == 1 || !spec.backbone.dilated;
    heads_ = add_task_heads("heads", {c[4]});
  }

  // The tasks share the refinement blocks above the trunk: per-task gradients on the trunk's
  // features cannot be taken through detached leaves.
  bool separable_representation() const override { return false; }

  ModelOutput forward(const torch::Tensor& image) override {
    namespace F = torch::nn::functional;
    // The shared trunk: u_k^b before each layer's last block, u_k^t after it.
    torch::Tensor x = resnet_->forward_stage(0, {image}).at(0);
    torch::Tensor before[5], after[5];
    for (std::size_t k = 1; k <= 4; ++k) {
      const std::size_t n = resnet_->blocks(k);
      before[k] = resnet_->forward_blocks(k, x, 0, n - 1);
      after[k] = x = resnet_->forward_blocks(k, before[k], n - 1, n);
    }
    ModelOutput out;
    out.representation = share({before[1], after[1], before[2], after[2], before[3], after[3], before[4], after[4]});
    for (const auto& t : spec_.tasks) {
      torch::Tensor a;
      for (std::size_t k = 1; k <= 4; ++k) {
        torch::Tensor mask = attention_[k].at(t)->forward(k == 1 ? before[1] : torch::cat({before[k], a}, 1));
        a = mask * after[k];
        if (k == 4) break;
        a = refine_[k]->forward(a);
        if (pool_[k]) a = F::max_pool2d(a, F::MaxPool2dFuncOptions(2).stride(2));
      }
      out.tasks[t] = upsample(heads_.at(t)->forward({a}), image.size(2), image.size(3));
    }
    return out;
  }

 private:
  std::shared_ptr<ResNetImpl> resnet_;
  std::map<std::string, torch::nn::Sequential> attention_[5];
  torch::nn::Sequential refine_[4];
  bool pool_[4] = {false, false, false, false};
  std::map<std::string, std::shared_ptr<HeadImpl>> heads_;
};

std::string accepts(const ModelSpec& spec) {
  if (spec.backbone.name.rfind("resnet", 0) != 0)
    return fmt::format("backbone.name: mtan attends over the residual blocks of a ResNet (resnet18, resnet50), got {}",
                       spec.backbone.name);
  return no_auxiliary_tasks(spec);
}

}  // namespace

DENSEMTL_REGISTER(ArchitectureEntry, {"mtan", 40, "MTAN (Liu et al. 2019): per-task attention over a shared ResNet, shared refinement blocks",
                                      architecture<MtanImpl>, ArchitectureEntry::Role::MultiTask, {}, accepts, "MTAN"});

}  // namespace densemtl::models
