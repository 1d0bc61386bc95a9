#include "densemtl/models/architectures/distillation.h"

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::models {

std::vector<std::string> initial_prediction_tasks(const ModelSpec& spec) {
  std::vector<std::string> all = spec.tasks;
  all.insert(all.end(), spec.aux_tasks.begin(), spec.aux_tasks.end());
  return tasks::canonical(all);  // each once, canonical order
}

std::int64_t initial_feature_channels(const ModelSpec& spec) {
  return BottleneckImpl::kExpansion * scaled(256 / BottleneckImpl::kExpansion, spec.head.width);
}

std::string accepts_hrnet_distillation(const ModelSpec& spec, const std::string& what) {
  if (spec.backbone.name != "hrnet_w18")
    return fmt::format("backbone.name: {} is built on HRNet-18's multi-scale features (hrnet_w18), got {}", spec.architecture,
                       spec.backbone.name);
  std::vector<std::string> initial = initial_prediction_tasks(spec);
  if (initial.size() < 2)
    return fmt::format("tasks.main: {} {}: it needs at least two tasks in tasks.main and tasks.aux together, got {}",
                       spec.architecture, what, join(initial, ", "));
  return "";
}

SABlockImpl::SABlockImpl(std::int64_t in, std::int64_t out) {
  mask_conv = models::conv(in, out, 3, 1, 1);
  torch::nn::Sequential attention;
  attention->push_back(mask_conv);
  attention->push_back(torch::nn::Sigmoid());
  register_module("attention", attention);
  conv = register_module("conv", models::conv(in, out, 3, 1, 1));
}

torch::Tensor SABlockImpl::forward(const torch::Tensor& x) { return conv(x) * torch::sigmoid(mask_conv(x)); }

SEBlockImpl::SEBlockImpl(std::int64_t channels, std::int64_t r) {
  // C/r, at least 1 (the reference's C // r for its channel counts, all ≥ 16; narrower HRNets too).
  const std::int64_t hidden = std::max<std::int64_t>(1, channels / r);
  reduce = Linear(channels, hidden);
  expand = Linear(hidden, channels);
  torch::nn::Sequential squeeze;
  squeeze->push_back(reduce);
  squeeze->push_back(torch::nn::ReLU());
  squeeze->push_back(expand);
  squeeze->push_back(torch::nn::Sigmoid());
  register_module("squeeze", squeeze);
}

torch::Tensor SEBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor s = torch::sigmoid(expand(torch::relu(reduce(x.mean({2, 3})))));
  return x * s.view({x.size(0), x.size(1), 1, 1});
}

DistillationImpl::DistillationImpl(const std::vector<std::string>& tasks, const std::vector<std::string>& initial,
                                   std::int64_t channels) {
  auto self_attention = register_module("self_attention", torch::nn::ModuleDict());
  for (const auto& t : tasks) {
    auto per_task = torch::nn::ModuleDict();
    for (const auto& a : initial) {
      if (a == t) continue;
      SABlock b(channels, channels);
      add_module(*per_task, a, b.ptr());
      blocks[t].emplace(a, b);
    }
    add_module(*self_attention, t, per_task.ptr());
  }
}

std::map<std::string, torch::Tensor> DistillationImpl::forward(const std::map<std::string, torch::Tensor>& features) {
  std::map<std::string, torch::Tensor> out;
  for (auto& [t, from] : blocks) {
    torch::Tensor d = features.at(t);
    for (auto& [a, block] : from) d = d + block->forward(features.at(a));
    out[t] = d;
  }
  return out;
}

HRNetFuseImpl::HRNetFuseImpl(const std::vector<std::int64_t>& in) {
  for (std::int64_t c : in) channels += c;
  conv_ = conv(channels, channels, 1, 1, 0, 1, /*bias=*/true);
  bn_ = batch_norm(conv_);
  last_layer = torch::nn::Sequential();
  last_layer->push_back(conv_);
  last_layer->push_back(bn_);
  last_layer->push_back(torch::nn::ReLU());
  register_module("last_layer", last_layer);
}

torch::Tensor HRNetFuseImpl::forward(const Features& f) {
  std::vector<torch::Tensor> maps{f[0]};
  for (std::size_t i = 1; i < f.size(); ++i) maps.push_back(upsample(f[i], f[0].size(2), f[0].size(3)));
  return torch::relu(bn_(conv_(torch::cat(maps, 1))));
}

torch::nn::Sequential bottleneck_pair(std::int64_t in, std::int64_t out) {
  torch::nn::Sequential s;
  s->push_back(Bottleneck(in, out / BottleneckImpl::kExpansion, 1, 1, 1, /*downsample=*/in != out));
  s->push_back(Bottleneck(out, out / BottleneckImpl::kExpansion, 1, 1, 1, /*downsample=*/false));
  return s;
}

torch::nn::Sequential basic_pair(std::int64_t in, std::int64_t out) {
  torch::nn::Sequential s;
  s->push_back(BasicBlock(in, out, 1, 1, 1, /*downsample=*/in != out));
  s->push_back(BasicBlock(out, out, 1, 1, 1, /*downsample=*/false));
  return s;
}

TaskPredictionsImpl::TaskPredictionsImpl(const std::vector<std::string>& tasks, Blocks blocks, const std::string& refinement_name_,
                                         const std::string& decoder_name_, std::int64_t in, std::int64_t channels,
                                         const std::map<std::string, std::int64_t>& outputs)
    : refinement_name(refinement_name_), decoder_name(decoder_name_) {
  auto refinement_dict = register_module(refinement_name, torch::nn::ModuleDict());
  auto decoder_dict = register_module(decoder_name, torch::nn::ModuleDict());
  for (const auto& t : tasks) {
    torch::nn::Sequential r = blocks == Blocks::Bottleneck ? bottleneck_pair(in, channels) : basic_pair(in, channels);
    add_module(*refinement_dict, t, r.ptr());
    refinement.emplace(t, r);
    Conv2d d = conv(channels, outputs.at(t), 1, 1, 0, 1, /*bias=*/true);
    add_module(*decoder_dict, t, d.ptr());
    decoder.emplace(t, d);
  }
}

TaskPredictionsImpl::Out TaskPredictionsImpl::forward(const torch::Tensor& x, const std::map<std::string, torch::Tensor>* previous) {
  Out out;
  for (auto& [t, r] : refinement) {
    torch::Tensor in = x;
    if (previous) in = torch::cat({x, upsample(previous->at(t), x.size(2), x.size(3))}, 1);
    out.features[t] = r->forward(in);
    out.predictions[t] = decoder.at(t)(out.features[t]);
  }
  return out;
}

HRNetDecoderImpl::HRNetDecoderImpl(const ModelSpec& spec, bool with_fuse)
    : ArchitectureImpl(spec), initial_(initial_prediction_tasks(spec)) {
  hrnet = make_backbone(spec.backbone);
  if (!with_fuse) {  // MTI-Net: the HRNet itself is `backbone`
    register_module("backbone", hrnet);
    declare("backbone", hrnet, Component::Backbone, ParameterGroup::shared());
    return;
  }
  auto holder = register_module("backbone", Indexed(2));
  holder->set(0, hrnet);
  declare("backbone.0", hrnet, Component::Backbone, ParameterGroup::shared());
  fuse = HRNetFuse(hrnet->out_channels());
  holder->set(1, fuse.ptr());
  declare("backbone.1", fuse.ptr(), Component::Backbone, ParameterGroup::shared());
}

void HRNetDecoderImpl::declare_task_predictions(const std::string& path, const TaskPredictions& p) {
  for (const auto& [t, r] : p->refinement)
    declare(path + "." + p->refinement_name + "." + t, r.ptr(), Component::Other, ParameterGroup::of_task(t, /*exclusive=*/false));
  for (const auto& [t, d] : p->decoder)
    declare(path + "." + p->decoder_name + "." + t, d.ptr(), Component::Other, ParameterGroup::of_task(t));
}

void HRNetDecoderImpl::add_initial_predictions() {
  initial = register_module("initial_task_prediction_heads",
                            TaskPredictions(initial_, TaskPredictionsImpl::Blocks::Bottleneck, "layers", "conv_out", fuse->channels,
                                            initial_feature_channels(spec_), spec_.outputs));
  declare_task_predictions("initial_task_prediction_heads", initial);
}

TaskPredictionsImpl::Out HRNetDecoderImpl::predict_initial(const torch::Tensor& image, ModelOutput& out) {
  torch::Tensor fused;
  trunk(image, &fused);
  out.representation = share({fused});
  TaskPredictionsImpl::Out x = initial->forward(fused);
  for (const auto& t : initial_) out.aux.push_back({"initial_" + t, t, x.predictions.at(t)});
  return x;
}

Features HRNetDecoderImpl::trunk(const torch::Tensor& image, torch::Tensor* fused) {
  Features x = hrnet->forward(image);
  if (fused) *fused = fuse->forward(x);
  return x;
}

}  // namespace densemtl::models
