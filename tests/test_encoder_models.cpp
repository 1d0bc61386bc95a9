// torch
// The encoder-focused models (cross-stitch, NDDR-CNN, MTAN): their defining properties and the
// reference's state-dict names.
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

namespace {

// An experiment config whose model.<architecture> section sets `options` (YAML lines).
ModelSpec with_options(ModelSpec s, const std::string& options) {
  return test::model_spec(s.architecture, s.backbone.name, s.tasks, s.outputs, options, s.aux_tasks, s.backbone.width);
}

void copy_single_task(ArchitectureImpl& into, const std::map<std::string, Architecture>& from) {
  for (const auto& [task, st] : from) load_single_task(into, task, *st);
}

}  // namespace

TEST(CrossStitch, WithAlphaOneAndBetaZeroItIsTheSingleTaskNetworks) {
  const std::vector<std::string> tasks = {"semseg", "depth"};
  ModelSpec cs = with_options(spec("cross_stitch", "resnet18", tasks, kNyud, 0.25), "{alpha: 1.0, beta: 0.0}");
  torch::manual_seed(5);
  Architecture model = make_architecture(cs);
  std::map<std::string, Architecture> st;
  for (const auto& t : tasks) st[t] = make_architecture(spec("single_task", "resnet18", {t}, kNyud, 0.25));
  copy_single_task(*model, st);
  torch::manual_seed(6);
  torch::Tensor x = torch::randn({2, 3, 48, 64});
  torch::NoGradGuard g;
  model->eval();
  ModelOutput out = model->forward(x);
  for (const auto& t : tasks) {
    st[t]->eval();
    torch::Tensor expected = st[t]->forward(x).tasks.at(t);
    EXPECT_TRUE(torch::allclose(out.tasks.at(t), expected, 1e-5, 1e-6)) << t;
  }
  // Every unit as configured: a_ii = alpha, a_ij = beta, one per channel.
  auto p = model->named_parameters();
  EXPECT_TRUE(torch::equal(p["cross_stitch.layer1.cross_stitch_unit.depth.depth.param"], torch::ones({16})));
  EXPECT_TRUE(torch::equal(p["cross_stitch.layer4.cross_stitch_unit.semseg.depth.param"], torch::zeros({128})));
  // The default units (the reference's NYUD values) mix the tasks: the outputs differ.
  Architecture mixed = make_architecture(spec("cross_stitch", "resnet18", tasks, kNyud, 0.25));
  copy_single_task(*mixed, st);
  mixed->eval();
  EXPECT_NEAR(mixed->named_parameters()["cross_stitch.layer2.cross_stitch_unit.semseg.depth.param"][0].item<double>(), 0.1, 1e-7);
  EXPECT_FALSE(torch::allclose(mixed->forward(x).tasks.at("depth"), out.tasks.at("depth"), 1e-3, 1e-4));
}

TEST(CrossStitch, NamesGroupsAndLearningRatesAreTheReferences) {
  Architecture m = make_architecture(spec("cross_stitch", "resnet18", {"semseg", "depth"}, kNyud, 0.25));
  auto p = m->named_parameters();
  for (const char* key : {"backbone.semseg.conv1.weight", "backbone.depth.layer4.1.bn2.bias", "heads.depth.0.project.0.weight",
                          "cross_stitch.layer1.cross_stitch_unit.semseg.semseg.param",
                          "cross_stitch.layer3.cross_stitch_unit.semseg.depth.param"})
    EXPECT_TRUE(p.contains(key)) << key;
  // Units at 100 x the rate (the papers' intent), everything else at 1 x.
  auto groups = m->parameters_by_lr_factor();
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].first, 1.0);
  EXPECT_EQ(groups[1].first, 100.0);
  EXPECT_EQ(groups[1].second.size(), 4u * 2u * 2u);
  Architecture reference = make_architecture(with_options(spec("cross_stitch", "resnet18", {"semseg", "depth"}, kNyud, 0.25),
                                                          "{mixing_lr_factor: 1.0}"));
  EXPECT_EQ(reference->parameters_by_lr_factor().size(), 1u);
  // Backbones reach every task's loss through the units: balancers see them as shared.
  const std::size_t heads = m->task_parameters("semseg").size() + m->task_parameters("depth").size();
  EXPECT_EQ(m->shared_parameters().size() + heads, p.size());
  EXPECT_FALSE(m->separable_representation());
  test::expect_error([] { make_architecture(spec("cross_stitch", "resnet18", {"depth"}, kNyud, 0.25)); },
                     {"tasks.main", "two or more tasks"});
  test::expect_error([] { make_architecture(spec("nddr_cnn", "hrnet_w18", {"semseg", "depth"}, kNyud)); },
                     {"backbone.name", "resnet18, resnet50"});
}

TEST(NddrCnn, EachLayerStartsAsItsAlphaBetaMixing) {
  // At initialisation the NDDR layer of task t is ReLU(BN(alpha x_t + beta sum_{k != t} x_k)): with
  // fresh batch-norm statistics (mean 0, variance 1) in evaluation, ReLU((alpha x_t + beta x_k) / sqrt(1 + eps)).
  const std::vector<std::string> tasks = {"semseg", "depth", "normals"};
  const double alpha = 0.8, beta = 0.05;
  Architecture m = make_architecture(with_options(spec("nddr_cnn", "resnet18", tasks, kNyud, 0.25), "{alpha: 0.8, beta: 0.05}"));
  m->eval();
  auto modules = m->named_modules();
  torch::manual_seed(7);
  const std::int64_t c = 32;  // layer2 of ResNet-18 at width 0.25
  torch::Tensor x[3] = {torch::randn({2, c, 5, 6}), torch::randn({2, c, 5, 6}), torch::randn({2, c, 5, 6})};
  torch::Tensor cat = torch::cat({x[0], x[1], x[2]}, 1);
  torch::NoGradGuard g;
  for (std::size_t t = 0; t < tasks.size(); ++t) {
    auto layer = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(modules["nddr.layer2.layer." + tasks[t]]);
    ASSERT_TRUE(layer) << tasks[t];
    torch::Tensor mixed = alpha * x[t];
    for (std::size_t k = 0; k < tasks.size(); ++k)
      if (k != t) mixed = mixed + beta * x[k];
    torch::Tensor expected = torch::relu(mixed / std::sqrt(1.0 + 1e-5));
    EXPECT_TRUE(torch::allclose(layer->forward(cat), expected, 1e-5, 1e-6)) << tasks[t];
  }
  // Names, BN momentum 0.05 and the stages (conv, layer1_without_conv, layer2..4).
  auto p = m->named_parameters();
  for (const char* key : {"nddr.conv.layer.semseg.0.weight", "nddr.layer1_without_conv.layer.depth.1.weight", "nddr.layer4.layer.normals.1.bias",
                          "backbone.normals.layer3.0.conv1.weight", "heads.semseg.0.project.0.weight"})
    EXPECT_TRUE(p.contains(key)) << key;
  EXPECT_EQ(p["nddr.layer4.layer.semseg.0.weight"].sizes(), (std::vector<std::int64_t>{128, 3 * 128, 1, 1}));
  auto bn = std::dynamic_pointer_cast<BatchNorm2dImpl>(modules["nddr.layer3.layer.depth.1"]);
  ASSERT_TRUE(bn);
  EXPECT_EQ(bn->momentum, 0.05);
}

TEST(Mtan, WithEveryAttentionMaskAtOneItIsTheSharedNetwork) {
  // Masks of one pass the trunk's features through unchanged, and the last layer's features
  // (a_4 = u_4) reach the heads without refinement: the multi-task baseline with the same weights.
  for (bool dilated : {true, false}) {
    SCOPED_TRACE(dilated ? "dilated" : "undilated");
    ModelSpec ms = spec("mtan", "resnet18", {"semseg", "depth"}, kNyud, 0.25);
    ms.backbone.dilated = dilated;
    ModelSpec bs = ms;
    bs.architecture = "baseline";
    torch::manual_seed(3);
    Architecture mtan = make_architecture(ms);
    Architecture base = make_architecture(bs);
    {
      torch::NoGradGuard g;
      auto from = mtan->named_parameters();
      for (auto& p : base->named_parameters()) {
        std::string key = p.key().rfind("decoders.", 0) == 0 ? "heads." + p.key().substr(9) : p.key();
        p.value().copy_(from[key]);
      }
      auto from_buffers = mtan->named_buffers();
      for (auto& b : base->named_buffers()) {
        std::string key = b.key().rfind("decoders.", 0) == 0 ? "heads." + b.key().substr(9) : b.key();
        b.value().copy_(from_buffers[key]);
      }
      // The attention layers' last batch norm: weight 0, bias 100, so sigmoid(100) = 1 in float.
      for (auto& p : mtan->named_parameters()) {
        if (p.key().rfind("attention_", 0) != 0 || p.key().find(".4.") == std::string::npos) continue;
        p.value().fill_(p.key().find("weight") != std::string::npos ? 0.0 : 100.0);
      }
    }
    mtan->eval();
    base->eval();
    torch::manual_seed(4);
    torch::Tensor x = torch::randn({2, 3, 64, 64});
    torch::NoGradGuard g;
    ModelOutput a = mtan->forward(x), b = base->forward(x);
    for (const auto& t : ms.tasks) EXPECT_TRUE(torch::allclose(a.tasks.at(t), b.tasks.at(t), 1e-5, 1e-6)) << t;
    // With the masks as initialised the attention matters.
    Architecture fresh = make_architecture(ms);
    fresh->eval();
    EXPECT_FALSE(torch::allclose(fresh->forward(x).tasks.at("depth"), b.tasks.at("depth"), 1e-3, 1e-4));
  }
  // MTAN needs a ResNet.
  test::expect_error([] { make_architecture(spec("mtan", "hrnet_w18", {"semseg", "depth"}, kNyud)); },
                     {"backbone.name", "mtan attends over the residual blocks of a ResNet"});
}

TEST(Mtan, NamesAreTheReferenceStateDictNames) {
  Architecture m = make_architecture(spec("mtan", "resnet18", {"semseg", "depth"}, kNyud, 0.25));
  auto p = m->named_parameters();
  for (const char* key : {"backbone.layer4.1.conv2.weight", "attention_1.semseg.0.weight", "attention_1.semseg.0.bias",
                          "attention_4.depth.4.weight", "refine_1.0.conv1.weight", "refine_3.0.downsample.0.weight",
                          "refine_3.0.bn3.bias", "heads.semseg.0.project.0.weight"})
    EXPECT_TRUE(p.contains(key)) << key;
  // Attention input channels: the layer's own (stage 1), twice the layer's (stages 2..4).
  EXPECT_EQ(p["attention_1.semseg.0.weight"].size(1), 16);
  EXPECT_EQ(p["attention_2.semseg.0.weight"].size(1), 64);
  EXPECT_EQ(p["attention_2.semseg.0.weight"].size(0), 8);
}

}  // namespace densemtl::models
