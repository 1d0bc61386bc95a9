// NDDR-CNN. Gao, Ma, Zhao, Liu & Yuille, "NDDR-CNN: Layerwise Feature Fusing in Multi-Task CNNs by
// Neural Discriminative Dimensionality Reduction", CVPR 2019; as the survey's code builds it
// (models/nddr_cnn.py of github.com/SimonVandenhende/Multi-Task-Learning-PyTorch).
//
// One network per task, started from the single-task networks. After the stem and after each
// residual layer, an NDDR layer per task t concatenates all tasks' features (T x C channels, in
// task order) and reduces them back to C channels:
//
//   x~_t = ReLU(BN(W_t [x_1; ...; x_T])),   W_t a 1x1 convolution (T C -> C, no bias),
//
// initialised as the paper's diagonal scheme: W_t[c, k C + c] = alpha for k = t, beta for k != t,
// 0 elsewhere (so at the start x~_t = ReLU(BN(alpha x_t + beta sum_{k != t} x_k))); BN weight 1,
// bias 0, momentum 0.05. The layers learn at mixing_lr_factor x the rate. Names (the reference's
// state dict): backbone.<task>.*, heads.<task>.*, nddr.<stage>.layer.<task>.{0,1}.* with stages
// conv, layer1_without_conv, layer2, layer3, layer4.
#include <torch/torch.h>

#include "densemtl/models/architectures/task_networks.h"

namespace densemtl::models {

namespace {

const char* const kStages[] = {"conv", "layer1_without_conv", "layer2", "layer3", "layer4"};

struct NddrLayerImpl : torch::nn::Module {
  NddrLayerImpl(const std::vector<std::string>& tasks, std::int64_t channels, double alpha, double beta) : tasks(tasks) {
    auto dict = register_module("layer", torch::nn::ModuleDict());
    const auto n = static_cast<std::int64_t>(tasks.size());
    torch::NoGradGuard no_grad;
    for (std::int64_t t = 0; t < n; ++t) {
      Conv2d reduce = conv(n * channels, channels, 1);
      torch::Tensor w = torch::zeros({channels, n * channels});
      for (std::int64_t k = 0; k < n; ++k) w.narrow(1, k * channels, channels).diagonal().fill_(k == t ? alpha : beta);
      reduce->weight.copy_(w.view({channels, n * channels, 1, 1}));
      torch::nn::Sequential s;
      s->push_back(reduce);
      s->push_back(batch_norm(reduce, 0.05));
      s->push_back(torch::nn::ReLU());
      add_module(*dict, tasks[t], s.ptr());
      layers[tasks[t]] = s;
    }
  }
  std::map<std::string, torch::Tensor> forward(const std::map<std::string, torch::Tensor>& x) {
    std::vector<torch::Tensor> all;
    for (const auto& t : tasks) all.push_back(x.at(t));
    torch::Tensor cat = torch::cat(all, 1);
    std::map<std::string, torch::Tensor> out;
    for (const auto& t : tasks) out[t] = layers.at(t)->forward(cat);
    return out;
  }
  std::vector<std::string> tasks;
  std::map<std::string, torch::nn::Sequential> layers;
};
TORCH_MODULE(NddrLayer);

class NddrCnnImpl : public TaskNetworksImpl {
 public:
  explicit NddrCnnImpl(const ModelSpec& spec) : TaskNetworksImpl(spec, "nddr") {
    torch::nn::ModuleDict layers;
    for (std::size_t s = 0; s <= 4; ++s) {
      NddrLayer l(spec.tasks, channels(s), alpha(), beta());
      add_module(*layers, kStages[s], l.ptr());
      layers_[s] = l;
    }
    declare_mixing(layers.ptr());
  }

 protected:
  // After the stem (with its max pooling) and after every residual layer.
  std::map<std::string, torch::Tensor> mix(std::size_t stage, std::map<std::string, torch::Tensor> x) override {
    return layers_[stage]->forward(x);
  }

 private:
  NddrLayer layers_[5] = {nullptr, nullptr, nullptr, nullptr, nullptr};
};

}  // namespace

DENSEMTL_REGISTER(ArchitectureEntry, {"nddr_cnn", 35,
                                      "NDDR-CNN (Gao et al. 2019): a ResNet per task, features of all tasks concatenated and "
                                      "reduced per task (1x1 conv + BN + ReLU) after the stem and every residual layer",
                                      architecture<NddrCnnImpl>, ArchitectureEntry::Role::MultiTask,
                                      TaskNetworksImpl::option_specs("NDDR-CNN", 0.9, 0.1), TaskNetworksImpl::accepts, "NDDR-CNN"});

}  // namespace densemtl::models
