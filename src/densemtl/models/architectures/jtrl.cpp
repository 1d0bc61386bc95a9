// JTRL: Zhang, Cui, Xu, Jie, Li & Yang, "Joint Task-Recursive Learning for Semantic Segmentation
// and Depth Estimation", ECCV 2018; on HRNet-18 (the paper's method section was not checked;
// its [unconfirmed] constants are options here).
//
// Depth (D) and segmentation (S) states alternate, coarse to fine, over R slices:
//   D_0, S_0 = ConvBNReLU3x3(x_3)                                         per task, at 1/32
//   D_t = Φ^D_t([TAM^D_t(D_{t-1}↑, S_{t-1}↑); x_{b(t)}])
//   S_t = Φ^S_t([TAM^S_t(S_{t-1}↑, D_t);      x_{b(t)}])                 t = 1..R
// with slice t at HRNet branch b(t) = 4 - t (1/32, 1/16, 1/8, 1/4), ↑ a bilinear resize to that
// branch, Φ two BasicBlocks (C + C_enc → C → C) and TAM the task-attentional module. Every state
// predicts (conv1x1): slice R's predictions are the outputs, slices 1..R-1 deep supervision
// (`deep_supervision.step_<t>.<task>`), each a loss term of its task with equal weight.
// Names: backbone.*, initial_state.<task>, tam.<t>.<task>, phi.<t>.<task>, predict.<t>.<task>.
#include "densemtl/models/architectures/jtrl.h"

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"

namespace densemtl::models {

namespace {

const std::string kDepth = "depth", kSemseg = "semseg";

// conv3x3 + BN + ReLU (names 0, 1).
torch::nn::Sequential conv_bn_relu(std::int64_t in, std::int64_t out) {
  torch::nn::Sequential s;
  Conv2d c = conv(in, out, 3, 1, 1);
  s->push_back(c);
  s->push_back(batch_norm(c));
  s->push_back(torch::nn::ReLU());
  return s;
}

}  // namespace

TaskAttentionImpl::TaskAttentionImpl(std::int64_t c) {
  balance = register_module("balance", conv_bn_relu(2 * c, c));
  balance->push_back(conv(c, c, 3, 1, 1, 1, /*bias=*/true));
  fuse = register_module("fuse", conv_bn_relu(c, c));
  attention = torch::nn::Sequential();
  for (int i = 0; i < 2; ++i) {
    Conv2d down = conv(c, c, 3, 2, 1);
    attention->push_back(down);
    attention->push_back(batch_norm(down));
    attention->push_back(torch::nn::ReLU());
  }
  using Options = torch::nn::ConvTranspose2dOptions;
  ConvTranspose2d up(Options(c, c, 3).stride(2).padding(1).output_padding(1).bias(false));
  attention->push_back(up);
  attention->push_back(batch_norm(up));
  attention->push_back(torch::nn::ReLU());
  attention->push_back(ConvTranspose2d(Options(c, c, 3).stride(2).padding(1).output_padding(1)));
  register_module("attention", attention);
  out = register_module("out", conv_bn_relu(2 * c, c));
}

TaskAttentionImpl::Out TaskAttentionImpl::forward_all(const torch::Tensor& own, const torch::Tensor& other) {
  Out o;
  o.balance = torch::sigmoid(balance->forward(torch::cat({own, other}, 1)));
  torch::Tensor f = fuse->forward(o.balance * own + (1 - o.balance) * other);
  // The conv-deconv attention halves the size twice and doubles it twice: pad to a multiple of
  // 4, crop back.
  const std::int64_t h = f.size(2), w = f.size(3), ph = (4 - h % 4) % 4, pw = (4 - w % 4) % 4;
  torch::Tensor padded = ph || pw ? torch::constant_pad_nd(f, {0, pw, 0, ph}) : f;
  o.mask = torch::sigmoid(attention->forward(padded)).slice(2, 0, h).slice(3, 0, w);
  o.output = out->forward(torch::cat({(1 + o.mask) * own, (1 + o.mask) * other}, 1));
  return o;
}

JtrlImpl::JtrlImpl(const ModelSpec& spec) : ArchitectureImpl(spec) {
  const config::View o = options();
  slices_ = static_cast<int>(o.get_int("slices"));
  const std::int64_t c = o.get_int("channels");
  hrnet_ = register_module("backbone", make_backbone(spec.backbone));
  declare("backbone", hrnet_, Component::Backbone, ParameterGroup::shared());
  const std::vector<std::int64_t> enc = hrnet_->out_channels();  // 4 branches; model.jtrl.slices is at most 4
  auto initial = register_module("initial_state", torch::nn::ModuleDict());
  for (const auto& t : {kDepth, kSemseg}) {
    torch::nn::Sequential state = conv_bn_relu(enc.back(), c);
    add_module(*initial, t, state.ptr());
    initial_state_.emplace(t, state);
    declare("initial_state." + t, state.ptr(), Component::Other, ParameterGroup::of_task(t, false));
  }
  auto tams = register_module("tam", torch::nn::ModuleList());
  auto phis = register_module("phi", torch::nn::ModuleList());
  auto predicts = register_module("predict", torch::nn::ModuleList());
  tam.resize(slices_);
  phi.resize(slices_);
  predict.resize(slices_);
  for (int s = 0; s < slices_; ++s) {
    const std::int64_t branch = enc[enc.size() - 1 - static_cast<std::size_t>(s)];
    auto tam_dict = torch::nn::ModuleDict(), phi_dict = torch::nn::ModuleDict(), predict_dict = torch::nn::ModuleDict();
    for (const auto& t : {kDepth, kSemseg}) {
      const std::string at = "." + std::to_string(s) + "." + t;
      TaskAttention attention(c);
      add_module(*tam_dict, t, attention.ptr());
      tam[s].emplace(t, attention);
      declare("tam" + at, attention.ptr(), Component::Other, ParameterGroup::cross_task());
      torch::nn::Sequential state = basic_pair(c + branch, c);
      add_module(*phi_dict, t, state.ptr());
      phi[s].emplace(t, state);
      // A depth state feeds the segmentation states after it, and the other way round.
      declare("phi" + at, state.ptr(), Component::Other, ParameterGroup::of_task(t, false));
      Conv2d p = conv(c, spec.outputs.at(t), 1, 1, 0, 1, /*bias=*/true);
      add_module(*predict_dict, t, p.ptr());
      predict[s].emplace(t, p);
      declare("predict" + at, p.ptr(), s + 1 == slices_ ? Component::Head : Component::Other, ParameterGroup::of_task(t));
    }
    tams->push_back(tam_dict);
    phis->push_back(phi_dict);
    predicts->push_back(predict_dict);
  }
}

ModelOutput JtrlImpl::forward(const torch::Tensor& image) {
  Features x = hrnet_->forward(image);
  ModelOutput out;
  out.representation = share(x);
  last_order.clear();
  torch::Tensor d = initial_state_.at(kDepth)->forward(x.back());
  torch::Tensor s = initial_state_.at(kSemseg)->forward(x.back());
  for (int t = 0; t < slices_; ++t) {
    const torch::Tensor& e = x[x.size() - 1 - static_cast<std::size_t>(t)];
    const std::int64_t h = e.size(2), w = e.size(3);
    torch::Tensor d_prev = upsample(d, h, w), s_prev = upsample(s, h, w);
    d = phi[t].at(kDepth)->forward(torch::cat({tam[t].at(kDepth)->forward(d_prev, s_prev), e}, 1));
    last_order.push_back("D" + std::to_string(t + 1));
    s = phi[t].at(kSemseg)->forward(torch::cat({tam[t].at(kSemseg)->forward(s_prev, d), e}, 1));
    last_order.push_back("S" + std::to_string(t + 1));
    for (const auto& [task, state] : {std::pair{kSemseg, s}, std::pair{kDepth, d}}) {
      torch::Tensor p = predict[t].at(task)(state);
      if (t + 1 == slices_) out.tasks[task] = upsample(p, image.size(2), image.size(3));
      else out.aux.push_back({"deep_supervision.step_" + std::to_string(t + 1) + "." + task, task, p});
    }
  }
  return out;
}

namespace {

std::string accepts(const ModelSpec& spec) {
  if (spec.tasks != std::vector<std::string>{kSemseg, kDepth})
    return fmt::format("tasks.main: jtrl alternates depth and semantic segmentation states and supports exactly [semseg, depth], "
                       "got [{}] (its two-task recursion does not extend to other task sets)",
                       join(spec.tasks, ", "));
  if (!spec.aux_tasks.empty())
    return fmt::format("tasks.aux: jtrl supervises its own recursion steps and takes no auxiliary tasks; remove tasks.aux: [{}]",
                       join(spec.aux_tasks, ", "));
  if (spec.backbone.name != "hrnet_w18")
    return fmt::format("backbone.name: jtrl runs its slices on HRNet-18's branches (hrnet_w18), got {}", spec.backbone.name);
  return "";
}

std::vector<config::Spec> options() {
  using namespace config;
  return {
      integer("slices", 4, 1, 4, "R: recursion slices, coarse to fine on HRNet branches 1/32, 1/16, 1/8, 1/4 [unconfirmed]"),
      integer("channels", 64, 1, 4096, "C: channels of every depth and segmentation state [unconfirmed]"),
  };
}

}  // namespace

DENSEMTL_REGISTER(ArchitectureEntry, {"jtrl", 75,
                                      "JTRL (Zhang et al. 2018): depth and segmentation states refined alternately, coarse to "
                                      "fine, through task-attentional modules (HRNet-18)",
                                      architecture<JtrlImpl>, ArchitectureEntry::Role::MultiTask, options(), accepts, "JTRL"});

}  // namespace densemtl::models
