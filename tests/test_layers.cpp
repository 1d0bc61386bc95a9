// torch
// Backbones stage by stage, layers (batch norm, dilated convolutions without dead taps) and
// inference preparation (folded batch norms).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "densemtl/models/build.h"
#include "densemtl/models/inference.h"
#include "densemtl/models/torch_file.h"
#include "densemtl/train/experiment.h"
#include "model_util.h"
#include "test_util.h"

namespace densemtl::models {

using test::kNyud;
using test::kPascal;
using test::spec;
using test::with_aux;

TEST(Backbones, StageByStageShapes) {
  torch::NoGradGuard g;
  auto resnet = make_backbone({"resnet18", true, 0.25});
  resnet->eval();
  Features f{torch::randn({1, 3, 64, 96})};
  const int strides[5] = {4, 4, 8, 8, 8};
  for (std::size_t s = 0; s < 5; ++s) {
    f = resnet->forward_stage(s, f);
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].size(1), resnet->stage_channels(s)[0]);
    EXPECT_EQ(f[0].size(2), 64 / strides[s]) << resnet->stage_names()[s];
  }
  auto plain = make_backbone({"resnet18", false, 0.25});
  EXPECT_EQ(plain->forward(torch::randn({1, 3, 64, 96}))[0].size(2), 2);  // stride 32 without dilation
  auto hrnet = make_backbone({"hrnet_w18", true, 1.0});
  Features h = hrnet->forward(torch::randn({1, 3, 64, 96}));
  ASSERT_EQ(h.size(), 4u);
  const std::int64_t channels[4] = {18, 36, 72, 144};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(h[i].size(1), channels[i]);
    EXPECT_EQ(h[i].size(2), 64 >> (i + 2));
    EXPECT_EQ(h[i].size(3), 96 >> (i + 2));
  }
}

TEST(Layers, BatchNormRefusesOneValuePerChannelInTraining) {
  // torch::batch_norm would put NaN (an n - 1 = 0 variance) into the running variance.
  BatchNorm2d bn = batch_norm(3, 0.1);
  bn->train();
  test::expect_error([&] { bn->forward(torch::randn({1, 3, 1, 1})); }, {"more than one value per channel", "train.drop_last"});
  EXPECT_TRUE(torch::isfinite(bn->running_var).all().item<bool>());
  EXPECT_NO_THROW(bn->forward(torch::randn({2, 3, 1, 1})));  // two images, or two pixels, are fine
  EXPECT_NO_THROW(bn->forward(torch::randn({1, 3, 1, 2})));
  bn->eval();
  EXPECT_NO_THROW(bn->forward(torch::randn({1, 3, 1, 1})));  // inference uses the running statistics
}

TEST(Layers, DilatedConvolutionWithoutItsDeadTapsEqualsTheFullOne) {
  // Rows 5 <= d = 6 (vertical taps dead), columns 9 > 6 (live); then both dead; then neither.
  torch::manual_seed(1);
  for (auto [h, w] : std::vector<std::pair<std::int64_t, std::int64_t>>{{5, 9}, {6, 4}, {9, 12}}) {
    for (bool nhwc : {false, true}) {
      Conv2d ours = conv(4, 5, 3, 1, 6, 6, true);
      ASSERT_EQ(ours->same_dilation, 6);
      torch::Tensor x = torch::randn({2, 4, h, w});
      if (nhwc) {
        x = x.contiguous(at::MemoryFormat::ChannelsLast);
        ours->weight.set_data(ours->weight.contiguous(at::MemoryFormat::ChannelsLast));
      }
      torch::Tensor wx = x.clone().requires_grad_(true), fx = x.clone().requires_grad_(true);
      torch::Tensor y = ours->forward(wx);
      ours->weight.mutable_grad() = torch::Tensor();
      y.pow(2).sum().backward();
      torch::Tensor g = ours->weight.grad().clone();
      ours->weight.mutable_grad() = torch::Tensor();
      torch::Tensor full = ours->torch::nn::Conv2dImpl::forward(fx);  // all nine taps
      full.pow(2).sum().backward();
      EXPECT_TRUE(torch::allclose(y, full, 1e-5, 1e-5)) << h << "x" << w;
      EXPECT_TRUE(torch::allclose(g, ours->weight.grad(), 1e-4, 1e-4)) << h << "x" << w;
      EXPECT_TRUE(torch::allclose(wx.grad(), fx.grad(), 1e-5, 1e-5)) << h << "x" << w;
    }
  }
  // MACs are counted for the nominal 3x3 kernel, as FLOP counters do.
  Conv2d c = conv(3, 8, 3, 1, 12, 12);
  MacCounter counter;
  c->forward(torch::zeros({1, 3, 10, 10}));
  EXPECT_EQ(counter.macs(), 8 * 10 * 10 * 3 * 9);
}

TEST(Inference, FoldingBatchNormsKeepsTheOutputs) {
  for (const char* backbone : {"resnet18", "hrnet_w18"}) {
    torch::manual_seed(3);
    Architecture m = make_architecture(spec("baseline", backbone, {"semseg", "normals", "depth"}, kNyud, 0.5));
    {
      // Non-trivial statistics and affine parameters, so that a wrong fold shows.
      torch::NoGradGuard g;
      for (auto& b : m->named_buffers()) {
        if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0, 0.2);
        if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
      }
      for (auto& p : m->named_parameters())
        if (p.key().find("bn") != std::string::npos || p.value().dim() == 1) p.value().uniform_(-0.5, 1.5);
    }
    m->eval();
    torch::NoGradGuard g;
    torch::Tensor x = torch::randn({2, 3, 48, 64});
    ModelOutput before = m->forward(x);
    FoldReport folded = prepare_for_inference(*m);
    EXPECT_GT(folded.folded, 20) << backbone;
    EXPECT_TRUE(folded.unfolded.empty()) << backbone;
    ModelOutput after = m->forward(x);
    for (const auto& [task, t] : before.tasks) {
      double diff = (t - after.tasks.at(task)).abs().max().item<double>();
      EXPECT_LT(diff, 1e-3 * std::max(1.0, t.abs().max().item<double>())) << backbone << " " << task;
    }
  }
}

}  // namespace densemtl::models
