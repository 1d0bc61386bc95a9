#include "densemtl/models/backbones/hrnet.h"

#include "densemtl/core/error.h"
#include "densemtl/models/backbones/resnet.h"

namespace densemtl::models {

namespace {

constexpr double kMomentum = 0.01;

Seq conv_bn(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride, bool relu) {
  Seq s;
  Conv2d c = conv(in, out, kernel, stride, kernel / 2);
  s->push_back(c);
  s->push_back(batch_norm(c, kMomentum));
  if (relu) s->push_back(torch::nn::ReLU());
  return s;
}

}  // namespace

HighResolutionModuleImpl::HighResolutionModuleImpl(const std::vector<std::int64_t>& channels, int blocks)
    : n_(channels.size()) {
  branches = register_module("branches", torch::nn::ModuleList());
  for (std::size_t i = 0; i < n_; ++i) {
    torch::nn::Sequential branch;
    for (int b = 0; b < blocks; ++b) branch->push_back(BasicBlock(channels[i], channels[i], 1, 1, 1, false, kMomentum));
    branches->push_back(branch);
  }
  fuse_layers = register_module("fuse_layers", Indexed(n_));
  for (std::size_t i = 0; i < n_; ++i) {
    Indexed row(n_);
    for (std::size_t j = 0; j < n_; ++j) {
      if (j > i) {
        row->set(j, conv_bn(channels[j], channels[i], 1, 1, false).ptr());
      } else if (j < i) {
        Seq downs;
        for (std::size_t k = 0; k < i - j; ++k) {
          bool last = k == i - j - 1;
          downs->push_back(conv_bn(channels[j], last ? channels[i] : channels[j], 3, 2, !last));
        }
        row->set(j, downs.ptr());
      }
    }
    fuse_layers->set(i, row.ptr());
  }
}

Features HighResolutionModuleImpl::forward(Features x) {
  for (std::size_t i = 0; i < n_; ++i) x[i] = branches[i]->as<torch::nn::SequentialImpl>()->forward(x[i]);
  if (n_ == 1) return x;
  Features out;
  for (std::size_t i = 0; i < n_; ++i) {
    auto row = fuse_layers->at<IndexedImpl>(i);
    auto path = [&](std::size_t j) { return row->at<SeqImpl>(j)->forward(x[j]); };
    torch::Tensor y = i == 0 ? x[0] : path(0);
    for (std::size_t j = 1; j < n_; ++j) {
      if (j == i) y = y + x[j];
      else if (j > i) y = y + upsample(path(j), x[i].size(2), x[i].size(3));
      else y = y + path(j);
    }
    out.push_back(torch::relu(y));
  }
  return out;
}

HRNetImpl::HRNetImpl(double width) {
  const std::int64_t stem = scaled(64, width);
  conv1 = register_module("conv1", conv(3, stem, 3, 2, 1));
  bn1 = register_module("bn1", batch_norm(conv1, kMomentum));
  conv2 = register_module("conv2", conv(stem, stem, 3, 2, 1));
  bn2 = register_module("bn2", batch_norm(conv2, kMomentum));
  // Stage 1: two Bottlenecks, planes 64 -> 256 channels.
  layer1 = torch::nn::Sequential();
  layer1->push_back(Bottleneck(stem, stem, 1, 1, 1, true, kMomentum));
  layer1->push_back(Bottleneck(stem * 4, stem, 1, 1, 1, false, kMomentum));
  register_module("layer1", layer1);
  const std::vector<std::int64_t> c = {scaled(18, width), scaled(36, width), scaled(72, width), scaled(144, width)};
  channels_ = {{stem * 4}, {c[0], c[1]}, {c[0], c[1], c[2]}, c};
  transition1 = register_module("transition1", make_transition({stem * 4}, channels_[1]));
  stage2 = torch::nn::ModuleList();
  stage2->push_back(HighResolutionModule(channels_[1], 2));
  register_module("stage2", stage2);
  transition2 = register_module("transition2", make_transition(channels_[1], channels_[2]));
  stage3 = torch::nn::ModuleList();
  for (int m = 0; m < 3; ++m) stage3->push_back(HighResolutionModule(channels_[2], 2));
  register_module("stage3", stage3);
  transition3 = register_module("transition3", make_transition(channels_[2], channels_[3]));
  stage4 = torch::nn::ModuleList();
  for (int m = 0; m < 2; ++m) stage4->push_back(HighResolutionModule(channels_[3], 2));
  register_module("stage4", stage4);
}

Indexed HRNetImpl::make_transition(const std::vector<std::int64_t>& previous, const std::vector<std::int64_t>& current) {
  Indexed t(current.size());
  for (std::size_t i = 0; i < current.size(); ++i) {
    if (i < previous.size()) {
      if (current[i] != previous[i]) t->set(i, conv_bn(previous[i], current[i], 3, 1, true).ptr());
    } else {
      Seq chain;
      for (std::size_t j = 0; j < i + 1 - previous.size(); ++j) {
        std::int64_t in = previous.back();
        std::int64_t out = j == i - previous.size() ? current[i] : in;
        chain->push_back(conv_bn(in, out, 3, 2, true));
      }
      t->set(i, chain.ptr());
    }
  }
  return t;
}

Features HRNetImpl::run_transition(const Indexed& t, const Features& x, std::size_t branches) {
  Features out;
  for (std::size_t i = 0; i < t->size(); ++i) {
    const torch::Tensor& src = i < branches ? x[i] : x.back();
    out.push_back(t->has(i) ? t->at<SeqImpl>(i)->forward(src) : src);
  }
  return out;
}

std::vector<std::string> HRNetImpl::stage_names() const { return {"stem", "stage2", "stage3", "stage4"}; }

Features HRNetImpl::forward_stage(std::size_t stage, const Features& in) {
  auto run_modules = [](torch::nn::ModuleList& s, Features x) {
    for (std::size_t i = 0; i < s->size(); ++i) x = s[i]->as<HighResolutionModuleImpl>()->forward(std::move(x));
    return x;
  };
  switch (stage) {
    case 0: {
      torch::Tensor x = torch::relu(bn1(conv1(in.at(0))));
      x = torch::relu(bn2(conv2(x)));
      return {layer1->forward(x)};
    }
    case 1: return run_modules(stage2, run_transition(transition1, in, 1));
    case 2: return run_modules(stage3, run_transition(transition2, in, 2));
    case 3: return run_modules(stage4, run_transition(transition3, in, 3));
    default: fail("HRNet has no stage {}", stage);
  }
}

std::vector<std::int64_t> HRNetImpl::stage_channels(std::size_t stage) const { return channels_.at(stage); }

std::vector<std::string> HRNetImpl::stage_modules(std::size_t stage) const {
  switch (stage) {
    case 0: return {"conv1", "bn1", "conv2", "bn2", "layer1"};
    case 1: return {"transition1", "stage2"};
    case 2: return {"transition2", "stage3"};
    case 3: return {"transition3", "stage4"};
    default: fail("HRNet has no stage {}", stage);
  }
}

std::shared_ptr<BackboneImpl> make_backbone(const BackboneSpec& spec) {
  if (spec.name == "resnet18") return std::make_shared<ResNetImpl>(18, spec.dilated, spec.width);
  if (spec.name == "resnet50") return std::make_shared<ResNetImpl>(50, spec.dilated, spec.width);
  if (spec.name == "hrnet_w18") return std::make_shared<HRNetImpl>(spec.width);
  fail("unknown backbone '{}' (resnet18, resnet50, hrnet_w18)", spec.name);
}

}  // namespace densemtl::models
