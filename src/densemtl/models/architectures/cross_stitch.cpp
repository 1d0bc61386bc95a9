// Cross-stitch networks. Misra, Shrivastava, Gupta & Hebert, "Cross-stitch Networks for Multi-task
// Learning", CVPR 2016; as the survey's code builds them (models/cross_stitch.py of
// github.com/SimonVandenhende/Multi-Task-Learning-PyTorch).
//
// One network per task, started from the single-task networks. After each of the four residual
// layers (layer1 with the stem), a cross-stitch unit replaces every task's features x_i by a
// learned linear combination of all tasks' features, channel by channel:
//
//   x~_i = sum_j a_ij (.) x_j,     a_ij in R^C,   a_ii = alpha, a_ij = beta (i != j) at the start,
//
// (the paper's unit [x~_A; x~_B] = [a_AA a_AB; a_BA a_BB] [x_A; x_B], one per channel). The units
// learn at mixing_lr_factor x the rate (the paper's larger rate for the units). Names (the
// reference's state dict): backbone.<task>.*, heads.<task>.*,
// cross_stitch.<layer>.cross_stitch_unit.<task_i>.<task_j>.param.
#include <torch/torch.h>

#include "densemtl/models/architectures/task_networks.h"

namespace densemtl::models {

namespace {

// a ⊙ x with a per-channel vector `param`.
struct ChannelWiseMultiplyImpl : torch::nn::Module {
  ChannelWiseMultiplyImpl(std::int64_t channels, double value) {
    param = register_parameter("param", torch::full({channels}, value));
  }
  torch::Tensor forward(const torch::Tensor& x) { return param.view({1, -1, 1, 1}) * x; }
  torch::Tensor param;
};
TORCH_MODULE(ChannelWiseMultiply);

// The unit of one stage: a_ij for every ordered pair of tasks.
struct CrossStitchUnitImpl : torch::nn::Module {
  CrossStitchUnitImpl(const std::vector<std::string>& tasks, std::int64_t channels, double alpha, double beta) : tasks(tasks) {
    auto unit = register_module("cross_stitch_unit", torch::nn::ModuleDict());
    for (const auto& ti : tasks) {
      torch::nn::ModuleDict row;
      for (const auto& tj : tasks) {
        ChannelWiseMultiply a(channels, ti == tj ? alpha : beta);
        add_module(*row, tj, a.ptr());
        weights[ti].emplace(tj, a);
      }
      add_module(*unit, ti, row.ptr());
    }
  }
  std::map<std::string, torch::Tensor> forward(const std::map<std::string, torch::Tensor>& x) {
    std::map<std::string, torch::Tensor> out;
    for (const auto& ti : tasks) {
      torch::Tensor sum;
      for (const auto& tj : tasks) {
        torch::Tensor term = weights.at(ti).at(tj)->forward(x.at(tj));
        sum = sum.defined() ? sum + term : term;
      }
      out[ti] = sum;
    }
    return out;
  }
  std::vector<std::string> tasks;
  std::map<std::string, std::map<std::string, ChannelWiseMultiply>> weights;
};
TORCH_MODULE(CrossStitchUnit);

class CrossStitchImpl : public TaskNetworksImpl {
 public:
  explicit CrossStitchImpl(const ModelSpec& spec) : TaskNetworksImpl(spec, "cross_stitch") {
    torch::nn::ModuleDict units;
    for (std::size_t s = 1; s <= 4; ++s) {
      CrossStitchUnit u(spec.tasks, channels(s), alpha(), beta());
      add_module(*units, "layer" + std::to_string(s), u.ptr());
      units_[s] = u;
    }
    declare_mixing(units.ptr());
  }

 protected:
  // After layer1 (which includes the stem) .. layer4.
  std::map<std::string, torch::Tensor> mix(std::size_t stage, std::map<std::string, torch::Tensor> x) override {
    if (stage == 0) return x;
    return units_[stage]->forward(x);
  }

 private:
  CrossStitchUnit units_[5] = {nullptr, nullptr, nullptr, nullptr, nullptr};
};

}  // namespace

DENSEMTL_REGISTER(ArchitectureEntry, {"cross_stitch", 30,
                                      "Cross-stitch networks (Misra et al. 2016): a ResNet per task, per-channel linear mixing "
                                      "after every residual layer",
                                      architecture<CrossStitchImpl>, ArchitectureEntry::Role::MultiTask,
                                      TaskNetworksImpl::option_specs("cross-stitch", 0.9, 0.1), TaskNetworksImpl::accepts, "cross-stitch"});

}  // namespace densemtl::models
