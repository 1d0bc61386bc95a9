// torch
// Networks: exact parameter counts of the reference configs, numeric parity with the reference
// implementation's outputs, stage-by-stage shapes, FLOP counting, weights loading.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cstdlib>
#include <fstream>

#include "densemtl/models/build.h"
#include "densemtl/models/inference.h"
#include "densemtl/models/torch_file.h"
#include "densemtl/train/experiment.h"
#include "model_util.h"
#include "test_util.h"

namespace densemtl::models {

namespace {

const std::map<std::string, std::int64_t> kNyud = {{"semseg", 40}, {"depth", 1}, {"normals", 3}, {"edge", 1}};
const std::map<std::string, std::int64_t> kPascal = {{"semseg", 21}, {"human_parts", 7}, {"sal", 1}, {"normals", 3}, {"edge", 1}};

ModelSpec spec(const std::string& arch, const std::string& backbone, std::vector<std::string> tasks,
               const std::map<std::string, std::int64_t>& outputs, double width = 1.0) {
  return test::model_spec(arch, backbone, tasks, outputs, "", {}, width);
}

// `s` with auxiliary tasks (decoder-focused models' +edges_normals configs).
ModelSpec with_aux(ModelSpec s, std::vector<std::string> aux, const std::map<std::string, std::int64_t>& outputs) {
  s.aux_tasks = std::move(aux);
  for (const auto& t : s.aux_tasks) s.outputs[t] = outputs.at(t);
  return s;
}

// Small state-dict files written by PyTorch, kept with the tests.
fs::path state_dict_file(const std::string& name) { return fs::path(DENSEMTL_TEST_DATA) / "state_dicts" / name; }

// The reference models' parity fixtures (80 MB, not in the repository): $DENSEMTL_PARITY_DIR, or
// the shared folder beside the checkout. Empty when neither holds them.
fs::path parity_dir() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("DENSEMTL_PARITY_DIR")) candidates.emplace_back(env);
  candidates.push_back(fs::path(DENSEMTL_SHARED_DIR) / "parity");
  for (const auto& c : candidates)
    if (fs::exists(c / "pascal_resnet18_semseg.pt")) return c;
  return {};
}

std::map<std::string, at::Tensor> as_map(const std::vector<std::pair<std::string, at::Tensor>>& v) {
  return std::map<std::string, at::Tensor>(v.begin(), v.end());
}

// Loads a parity fixture into `model`, runs its input and compares every output.
void check_parity(ArchitectureImpl& model, const std::string& file) {
  fs::path dir = parity_dir();
  if (dir.empty())
    GTEST_SKIP() << "parity fixtures not found in $DENSEMTL_PARITY_DIR or " << DENSEMTL_SHARED_DIR << "/parity";
  if (!fs::exists(dir / file)) GTEST_SKIP() << file << " not in " << dir;
  auto all = as_map(torchfile::tensors(torchfile::load(dir / file)));
  std::vector<std::pair<std::string, at::Tensor>> weights;
  for (const auto& [k, v] : all)
    if (k.rfind("weights.", 0) == 0) weights.emplace_back(k.substr(8), v);
  LoadReport r = load_tensors(model, weights);
  EXPECT_TRUE(r.missing.empty() && r.unexpected.empty() && r.mismatched.empty()) << r.summary(50);
  model.eval();
  torch::NoGradGuard g;
  ModelOutput out = model.forward(all.at("input"));
  int compared = 0;
  for (const auto& [k, expected] : all) {
    if (k.rfind("output.", 0) != 0) continue;
    // A task's prediction, or a deep-supervision output under the reference's key with dots
    // ("initial_semseg", "deep_supervision.scale_0.depth").
    std::string task = k.substr(7);
    at::Tensor got;
    if (out.tasks.count(task)) got = out.tasks.at(task);
    for (const auto& a : out.aux)
      if (a.name == task) got = a.value;
    ASSERT_TRUE(got.defined()) << task << ": no such output";
    ASSERT_EQ(got.sizes(), expected.sizes()) << task;
    double diff = (got - expected).abs().max().item<double>();
    double scale = expected.abs().max().item<double>();
    EXPECT_LT(diff, 1e-4 * std::max(1.0, scale)) << task << ": max |diff| " << diff << " (output scale " << scale << ")";
    ++compared;
  }
  EXPECT_GT(compared, 0);
}

}  // namespace

TEST(ParameterCounts, EqualTheReferenceModels) {
  // ../shared/spec/param-counts.md: whole model and backbone, per reference config.
  struct Row {
    const char* config;
    ModelSpec spec;
    std::int64_t total, backbone;
  };
  const std::vector<std::string> pascal5 = {"semseg", "human_parts", "sal", "normals", "edge"};
  std::vector<Row> rows = {
      {"nyud/hrnet18/depth", spec("single_task", "hrnet_w18", {"depth"}, kNyud), 3934701, 3860720},
      {"nyud/hrnet18/semseg", spec("single_task", "hrnet_w18", {"semseg"}, kNyud), 3945270, 3860720},
      {"nyud/hrnet18/multi_task_baseline", spec("baseline", "hrnet_w18", {"semseg", "depth"}, kNyud), 4019251, 3860720},
      {"nyud/resnet50/depth", spec("single_task", "resnet50", {"depth"}, kNyud), 39633729, 23508032},
      {"nyud/resnet50/semseg", spec("single_task", "resnet50", {"semseg"}, kNyud), 39643752, 23508032},
      {"nyud/resnet50/multi_task_baseline", spec("baseline", "resnet50", {"semseg", "depth"}, kNyud), 55769449, 23508032},
      {"pascal/hrnet18/edge", spec("single_task", "hrnet_w18", {"edge"}, kPascal), 3934701, 3860720},
      {"pascal/hrnet18/human_parts", spec("single_task", "hrnet_w18", {"human_parts"}, kPascal), 3936327, 3860720},
      {"pascal/hrnet18/normals", spec("single_task", "hrnet_w18", {"normals"}, kPascal), 3935243, 3860720},
      {"pascal/hrnet18/sal", spec("single_task", "hrnet_w18", {"sal"}, kPascal), 3934701, 3860720},
      {"pascal/hrnet18/semseg", spec("single_task", "hrnet_w18", {"semseg"}, kPascal), 3940121, 3860720},
      {"pascal/hrnet18/multi_task_baseline", spec("baseline", "hrnet_w18", pascal5, kPascal), 4238213, 3860720},
      {"pascal/hrnet18/multi_task_baseline_small", spec("baseline", "hrnet_w18", {"semseg", "human_parts", "sal"}, kPascal), 4089709, 3860720},
      {"pascal/resnet18/edge", spec("single_task", "resnet18", {"edge"}, kPascal), 15898945, 11176512},
      {"pascal/resnet18/human_parts", spec("single_task", "resnet18", {"human_parts"}, kPascal), 15900487, 11176512},
      {"pascal/resnet18/normals", spec("single_task", "resnet18", {"normals"}, kPascal), 15899459, 11176512},
      {"pascal/resnet18/sal", spec("single_task", "resnet18", {"sal"}, kPascal), 15898945, 11176512},
      {"pascal/resnet18/semseg", spec("single_task", "resnet18", {"semseg"}, kPascal), 15904085, 11176512},
      {"pascal/resnet18/multi_task_baseline", spec("baseline", "resnet18", pascal5, kPascal), 34795873, 11176512},
      {"nyud/resnet50/mtan", spec("mtan", "resnet50", {"semseg", "depth"}, kNyud), 72052713, 23508032},
      {"pascal/resnet18/mtan", spec("mtan", "resnet18", pascal5, kPascal), 36613425, 11176512},
      {"nyud/resnet50/cross_stitch", spec("cross_stitch", "resnet50", {"semseg", "depth"}, kNyud), 79292841, 23508032},
      {"pascal/resnet18/cross_stitch", spec("cross_stitch", "resnet18", pascal5, kPascal), 79525921, 11176512},
      {"nyud/resnet50/nddr_cnn", spec("nddr_cnn", "resnet50", {"semseg", "depth"}, kNyud), 101591721, 23508032},
      {"pascal/resnet18/nddr_cnn", spec("nddr_cnn", "resnet18", pascal5, kPascal), 88318561, 11176512},
      {"nyud/hrnet18/pad_net", spec("pad_net", "hrnet_w18", {"semseg", "depth"}, kNyud), 7019056, 3934430},
      {"nyud/hrnet18/pad_net+edges_normals", with_aux(spec("pad_net", "hrnet_w18", {"semseg", "depth"}, kNyud), {"normals", "edge"}, kNyud),
       12161332, 3934430},
      {"nyud/hrnet18/mti_net", spec("mti_net", "hrnet_w18", {"semseg", "depth"}, kNyud), 8578179, 3860720},
      {"nyud/hrnet18/mti_net+edges_normals", with_aux(spec("mti_net", "hrnet_w18", {"semseg", "depth"}, kNyud), {"normals", "edge"}, kNyud),
       14838121, 3860720},
      {"pascal/hrnet18/pad_net", spec("pad_net", "hrnet_w18", pascal5, kPascal), 29304992, 3934430},
      {"pascal/hrnet18/pad_net_small", spec("pad_net", "hrnet_w18", {"semseg", "human_parts", "sal"}, kPascal), 12083608, 3934430},
      {"pascal/hrnet18/mti_net", spec("mti_net", "hrnet_w18", pascal5, kPascal), 24494171, 3860720},
      {"pascal/hrnet18/mti_net_small", spec("mti_net", "hrnet_w18", {"semseg", "human_parts", "sal"}, kPascal), 12645441, 3860720},
  };
  for (auto& row : rows) {
    Architecture m = make_architecture(row.spec);
    ParameterCount c = count_parameters(*m);
    EXPECT_EQ(c.total, row.total) << row.config;
    EXPECT_EQ(c.backbone, row.backbone) << row.config;
    // One backbone per task for soft sharing, one in all for the rest.
    const bool per_task = row.spec.architecture == "cross_stitch" || row.spec.architecture == "nddr_cnn";
    EXPECT_EQ(c.backbones, per_task ? static_cast<int>(row.spec.tasks.size()) : 1) << row.config;
    EXPECT_EQ(c.total, c.backbones * c.backbone + c.heads + c.other) << row.config;
  }
}

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

TEST(Parity, ResNet18DeepLabSingleTaskMatchesTheReference) {
  Architecture m = make_architecture(spec("single_task", "resnet18", {"semseg"}, kPascal));
  check_parity(*m, "pascal_resnet18_semseg.pt");
}

TEST(Parity, HRNet18MultiTaskBaselineMatchesTheReference) {
  Architecture m = make_architecture(spec("baseline", "hrnet_w18", {"semseg", "depth"}, kNyud));
  check_parity(*m, "nyud_hrnet18_multi_task_baseline.pt");
}

// Decoder-focused models: the fixtures as the reference code writes them (same format; outputs
// include the deep-supervision ones), run when present in the parity folder.
TEST(Parity, PadNetMatchesTheReference) {
  Architecture m = make_architecture(spec("pad_net", "hrnet_w18", {"semseg", "depth"}, kNyud));
  check_parity(*m, "nyud_hrnet18_pad_net.pt");
}

TEST(Parity, MtiNetMatchesTheReference) {
  Architecture m = make_architecture(spec("mti_net", "hrnet_w18", {"semseg", "depth"}, kNyud));
  check_parity(*m, "nyud_hrnet18_mti_net.pt");
}

TEST(Parity, MtiNetWithEdgesAndNormalsMatchesTheReference) {
  Architecture m = make_architecture(with_aux(spec("mti_net", "hrnet_w18", {"semseg", "depth"}, kNyud), {"normals", "edge"}, kNyud));
  check_parity(*m, "nyud_hrnet18_mti_net+edges_normals.pt");
}

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

TEST(Models, WidthOptionShrinksAndStillPredictsEveryTaskAtInputSize) {
  Architecture full = make_architecture(spec("baseline", "resnet18", {"semseg", "depth"}, kNyud));
  Architecture small = make_architecture(spec("baseline", "resnet18", {"semseg", "depth"}, kNyud, 0.25));
  EXPECT_LT(count_parameters(*small).total * 10, count_parameters(*full).total);
  small->train();
  ModelOutput out = small->forward(torch::randn({2, 3, 48, 64}));
  EXPECT_EQ(out.tasks.at("semseg").sizes(), (std::vector<std::int64_t>{2, 40, 48, 64}));
  EXPECT_EQ(out.tasks.at("depth").sizes(), (std::vector<std::int64_t>{2, 1, 48, 64}));
  EXPECT_EQ(out.representation.shared.size(), 1u);
  EXPECT_FALSE(small->shared_parameters().empty());
}

TEST(Models, MacCounterCountsConvolutions) {
  Conv2d c = conv(3, 8, 3, 1, 1);
  MacCounter counter;
  c->forward(torch::zeros({1, 3, 10, 10}));
  EXPECT_EQ(counter.macs(), 8 * 10 * 10 * 3 * 9);
  Architecture m = make_architecture(spec("single_task", "resnet18", {"depth"}, kNyud, 0.25));
  std::int64_t a = count_macs(*m, 32, 32), b = count_macs(*m, 64, 64);
  EXPECT_GT(a, 0);
  EXPECT_NEAR(static_cast<double>(b) / static_cast<double>(a), 4.0, 0.05);  // FLOPs scale with pixels
}

TEST(Flops, TheSurveysFiguresAreAQuarterOfOursOnItsNyudResNet50Rows) {
  // survey-tables.md section 4: the survey's "FLOPs" are half the multiply-accumulates at 480x640,
  // a quarter of densemtl's 2 x MAC count (the benchmark tables' "Survey GFLOPs" column).
  auto gflops = [](const std::string& config) {
    Experiment x = Experiment::load(fs::path(DENSEMTL_SOURCE_DIR) / "configs" / "nyud" / "resnet50" / config);
    const data::DatasetInfo info = x.dataset_info();
    Architecture m = make_architecture(x.model_spec(info));
    const cv::Size size = x.input_size(info);
    EXPECT_EQ(size, cv::Size(640, 480)) << config;
    return 2.0 * static_cast<double>(count_macs(*m, size.height, size.width)) / 1e9;
  };
  EXPECT_NEAR(gflops("multi_task_baseline.yaml") / 4, 133, 0.5);                 // survey: 133
  EXPECT_NEAR((gflops("semseg.yaml") + gflops("depth.yaml")) / 4, 192, 0.5);     // two networks: 192
  EXPECT_NEAR(gflops("mtan.yaml") / 4, 197, 0.5);                                // 197
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

TEST(TorchFile, OrderedDictZipLegacyAndReferenceCheckpointAllLoad) {
  auto expected = torch::pickle_load([] {
    std::string b = read_file(state_dict_file("tiny_state_dict_expected.pt"));
    return std::vector<char>(b.begin(), b.end());
  }()).toGenericDict();
  ASSERT_GT(expected.size(), 0u);
  for (const char* f : {"tiny_state_dict.pt", "tiny_state_dict_legacy.pt", "tiny_reference_checkpoint.pth.tar"}) {
    auto got = as_map(torchfile::load_state_dict(state_dict_file(f)));
    EXPECT_EQ(got.size(), expected.size()) << f;
    for (const auto& item : expected) {
      std::string key = item.key().toStringRef();
      ASSERT_TRUE(got.count(key)) << f << " lacks " << key;
      EXPECT_TRUE(torch::equal(got.at(key), item.value().toTensor())) << f << ": " << key;
    }
  }
  // The checkpoint's other entries are readable too.
  auto root = torchfile::load(state_dict_file("tiny_reference_checkpoint.pth.tar"));
  ASSERT_NE(root->find("epoch"), nullptr);
  EXPECT_EQ((*root->find("epoch"))->kind, torchfile::Value::Kind::Int);
}

TEST(TorchFile, BadFilesAreNamed) {
  test::TempDir dir;
  std::ofstream(dir.path() / "junk.pth") << "definitely not a checkpoint";
  test::expect_error([&] { torchfile::load_state_dict(dir.path() / "junk.pth"); }, {"junk.pth", "not a torch.save file"});
  test::expect_error([&] { torchfile::load_state_dict(dir.path() / "none.pth"); }, {"none.pth", "not found"});
  // Found by fuzzing: a zip archive whose storage record is corrupt (LibTorch's zip reader throws).
  const fs::path corrupt = fs::path(DENSEMTL_TEST_DATA) / "fuzz" / "torch_zip_corrupt_record.pt";
  test::expect_error([&] { torchfile::load_state_dict(corrupt); }, {"torch_zip_corrupt_record.pt", "malformed torch.save file"});
  // A legacy file whose pickle puts a container inside itself (leaked before, and recursion over
  // it never ended).
  const fs::path cycle = fs::path(DENSEMTL_TEST_DATA) / "fuzz" / "torch_legacy_cycle.pt";
  test::expect_error([&] { torchfile::load_state_dict(cycle); }, {"torch_legacy_cycle.pt", "contains itself"});
  // Nesting deeper than any torch.save file: an error, not a stack overflow.
  // The legacy format's header pickles (magic number, protocol version, system info), then the data.
  std::string deep = std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15) + "\x80\x02M\xe9\x03." +
                     "\x80\x02}." + "\x80\x02";
  for (int i = 0; i < 100000; ++i) deep += "]";  // EMPTY_LIST
  for (int i = 0; i < 99999; ++i) deep += "a";   // APPEND: each list into the one below it
  deep += ".";
  std::ofstream(dir.path() / "deep.pt", std::ios::binary) << deep;
  test::expect_error([&] { torchfile::load(dir.path() / "deep.pt"); }, {"deep.pt", "nested deeper than"});
}

TEST(Weights, ImageNetStyleBackboneWeightsLoadByTorchvisionNames) {
  test::TempDir dir;
  // A torchvision-style ResNet-18 state dict: backbone names without a prefix, plus the
  // classification head (fc.*) that densemtl ignores.
  Architecture source = make_architecture(spec("single_task", "resnet18", {"semseg"}, kPascal, 0.25));
  c10::Dict<std::string, at::Tensor> sd;
  for (const auto& p : source->named_parameters())
    if (p.key().rfind("backbone.", 0) == 0) sd.insert(p.key().substr(9), p.value().detach().clone());
  for (const auto& b : source->named_buffers())
    if (b.key().rfind("backbone.", 0) == 0) sd.insert(b.key().substr(9), b.value().clone());
  sd.insert("fc.weight", torch::randn({1000, 128}));
  sd.insert("fc.bias", torch::randn({1000}));
  std::vector<char> bytes = torch::pickle_save(sd);
  std::ofstream(dir.path() / "resnet18.pth", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  Architecture target = make_architecture(spec("baseline", "resnet18", {"semseg", "depth"}, kNyud, 0.25));
  load_backbone_weights(*target, dir.path() / "resnet18.pth");
  auto want = source->named_parameters();
  std::size_t compared = 0;
  for (const auto& p : target->named_parameters()) {
    if (p.key().rfind("backbone.", 0) != 0) continue;
    EXPECT_TRUE(torch::equal(p.value(), want[p.key()])) << p.key();
    ++compared;
  }
  EXPECT_GT(compared, 40u);
}

TEST(Weights, ACheckpointOfAnotherModelIsRefusedWithNames) {
  test::TempDir dir;
  // A state dict of a full-width model, in the zip container torch.save writes.
  Architecture full = make_architecture(spec("single_task", "resnet18", {"semseg"}, kPascal));
  c10::Dict<std::string, at::Tensor> sd;
  for (const auto& p : full->named_parameters()) sd.insert("module." + p.key(), p.value().detach());
  std::vector<char> bytes = torch::pickle_save(sd);
  std::ofstream(dir.path() / "full.pth", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  // It loads into its own architecture (the "module." prefix of DataParallel is stripped) ...
  Architecture same = make_architecture(spec("single_task", "resnet18", {"semseg"}, kPascal));
  EXPECT_THROW(load_reference_weights(*same, dir.path() / "full.pth"), Error);  // buffers are missing
  LoadReport r = load_tensors(*same, torchfile::load_state_dict(dir.path() / "full.pth"));
  EXPECT_TRUE(r.mismatched.empty() && r.unexpected.empty()) << r.summary();
  EXPECT_EQ(r.loaded, same->parameters().size());
  // ... but not into a quarter-width model or one with another head.
  Architecture small = make_architecture(spec("single_task", "resnet18", {"semseg"}, kPascal, 0.25));
  test::expect_error([&] { load_reference_weights(*small, dir.path() / "full.pth"); }, {"full.pth", "does not fit", "shape mismatch"});
  Architecture depth = make_architecture(spec("single_task", "resnet18", {"depth"}, kNyud));
  test::expect_error([&] { load_reference_weights(*depth, dir.path() / "full.pth"); }, {"decoder.4.weight: file [21, 256, 1, 1] vs model [1, 256, 1, 1]"});
  Architecture other = make_architecture(spec("single_task", "resnet18", {"semseg"}, kPascal));
  test::expect_error([&] { load_backbone_weights(*other, state_dict_file("tiny_state_dict.pt")); },
                     {"tiny_state_dict.pt", "backbone.weights do not fit"});
}

}  // namespace densemtl::models
