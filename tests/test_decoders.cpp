// torch
// Decoder-focused architectures: PAD-Net and MTI-Net as the reference builds them (names, deep
// supervision, distillation, the FPM's channel grouping), PAP-Net's affinity propagation
// (Zhang et al., CVPR 2019) and JTRL's recursion (Zhang et al., ECCV 2018).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "densemtl/models/architectures/jtrl.h"
#include "densemtl/models/architectures/mti_net.h"
#include "densemtl/models/architectures/pad_net.h"
#include "densemtl/models/architectures/pap_net.h"
#include "densemtl/models/build.h"
#include "model_util.h"
#include "test_util.h"

namespace densemtl::models {

namespace {

const std::map<std::string, std::int64_t> kOutputs = {{"semseg", 40}, {"depth", 1}, {"normals", 3}, {"edge", 1}};

ModelSpec hrnet_spec(const std::string& arch, const std::vector<std::string>& tasks, const std::vector<std::string>& aux = {},
                     const std::string& options = "") {
  return test::model_spec(arch, "hrnet_w18", tasks, kOutputs, options, aux);
}

template <typename Impl>
std::shared_ptr<Impl> build(const ModelSpec& spec) {
  auto m = std::dynamic_pointer_cast<Impl>(make_architecture(spec));
  if (!m) ADD_FAILURE() << "not a " << spec.architecture;
  return m;
}

const AuxOutput* find_aux(const ModelOutput& out, const std::string& name) {
  for (const auto& a : out.aux)
    if (a.name == name) return &a;
  return nullptr;
}

// Sum of every output (main and deep supervision), for gradient-reach checks.
torch::Tensor total(const ModelOutput& out) {
  torch::Tensor s = torch::zeros({});
  for (const auto& [t, y] : out.tasks) s = s + y.square().mean();
  for (const auto& a : out.aux) s = s + a.value.square().mean();
  return s;
}

// Every parameter receives a gradient from the outputs: nothing is built and left unused.
void expect_every_parameter_used(ArchitectureImpl& m, const torch::Tensor& image) {
  m.train();
  m.zero_grad();
  total(m.forward(image)).backward();
  for (const auto& p : m.named_parameters())
    EXPECT_TRUE(p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0) << p.key();
}

}  // namespace

TEST(PadNet, NamesAndDeepSupervisionAreTheReferences) {
  auto m = build<PadNetImpl>(hrnet_spec("pad_net", {"semseg", "depth"}, {"normals"}));
  auto p = m->named_parameters();
  for (const char* key :
       {"backbone.0.conv1.weight", "backbone.0.stage4.1.fuse_layers.3.0.0.0.weight", "backbone.1.last_layer.0.weight",
        "backbone.1.last_layer.0.bias", "backbone.1.last_layer.1.weight", "initial_task_prediction_heads.layers.normals.0.conv1.weight",
        "initial_task_prediction_heads.layers.semseg.0.downsample.0.weight", "initial_task_prediction_heads.layers.depth.1.bn3.bias",
        "initial_task_prediction_heads.conv_out.normals.bias", "multi_modal_distillation.self_attention.semseg.depth.attention.0.weight",
        "multi_modal_distillation.self_attention.semseg.normals.conv.weight", "multi_modal_distillation.self_attention.depth.semseg.conv.weight",
        "heads.semseg.0.conv1.weight", "heads.depth.2.weight", "heads.depth.2.bias"})
    EXPECT_TRUE(p.contains(key)) << key;
  // Main tasks only distil; auxiliary tasks only predict initially.
  EXPECT_FALSE(p.contains("multi_modal_distillation.self_attention.normals.semseg.conv.weight"));
  EXPECT_FALSE(p.contains("heads.normals.2.weight"));
  EXPECT_FALSE(p.contains("multi_modal_distillation.self_attention.semseg.semseg.conv.weight"));

  m->eval();
  torch::NoGradGuard g;
  ModelOutput out = m->forward(torch::randn({2, 3, 64, 96}));
  ASSERT_EQ(out.tasks.size(), 2u);
  EXPECT_EQ(out.tasks.at("semseg").sizes(), (std::vector<std::int64_t>{2, 40, 64, 96}));
  // One initial prediction per task, main and auxiliary, at 1/4, in canonical order.
  ASSERT_EQ(out.aux.size(), 3u);
  const char* names[] = {"initial_semseg", "initial_normals", "initial_depth"};
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(out.aux[i].name, names[i]);
  EXPECT_EQ(out.aux[1].task, "normals");
  EXPECT_EQ(out.aux[1].value.sizes(), (std::vector<std::int64_t>{2, 3, 16, 24}));
}

TEST(PadNet, WithDistillationZeroedItIsTheInitialFeaturesRefined) {
  auto m = build<PadNetImpl>(hrnet_spec("pad_net", {"semseg", "depth"}, {"edge"}));
  m->eval();
  torch::NoGradGuard g;
  torch::Tensor image = torch::randn({1, 3, 64, 96});
  ModelOutput before = m->forward(image);
  for (auto& p : m->distillation->parameters()) p.zero_();
  ModelOutput out = m->forward(image);
  // The features every head reads are its own initial features alone.
  torch::Tensor fused = m->fuse->forward(m->hrnet->forward(image));
  auto initial = m->initial->forward(fused);
  for (const auto& t : {"semseg", "depth"}) {
    torch::Tensor expected = upsample(m->heads.at(t)->forward(initial.features.at(t)), 64, 96);
    EXPECT_LT((out.tasks.at(t) - expected).abs().max().item<double>(), 1e-5) << t;
    EXPECT_GT((before.tasks.at(t) - expected).abs().max().item<double>(), 1e-4) << t << ": distillation had no effect before";
  }
}

TEST(MtiNet, NamesAndDeepSupervisionAtEveryScale) {
  auto m = build<MtiNetImpl>(hrnet_spec("mti_net", {"semseg", "depth"}, {"normals", "edge"}));
  auto p = m->named_parameters();
  for (const char* key :
       {"backbone.conv1.weight", "scale_3.refinement.semseg.0.conv1.weight", "scale_3.decoders.edge.bias",
        "scale_0.refinement.normals.0.downsample.0.weight", "scale_0.refinement.normals.1.bn2.weight",
        "fpm_scale_3.non_linear.0.downsample.1.weight", "fpm_scale_3.non_linear.2.bias", "fpm_scale_1.dimensionality_reduction.conv1.weight",
        "fpm_scale_2.dimensionality_reduction.downsample.0.weight", "fpm_scale_1.se.edge.squeeze.0.weight",
        "fpm_scale_1.se.edge.squeeze.2.bias", "distillation_scale_0.self_attention.depth.normals.conv.weight",
        "distillation_scale_3.self_attention.semseg.edge.attention.0.weight", "heads.semseg.last_layer.0.weight",
        "heads.depth.last_layer.3.bias"})
    EXPECT_TRUE(p.contains(key)) << key;
  EXPECT_FALSE(p.contains("scale_3.refinement.semseg.0.downsample.0.weight"));  // 144 → 144: no projection
  EXPECT_FALSE(p.contains("fpm_scale_0.non_linear.2.bias"));                     // no FPM at the finest scale
  // Refinement input channels: the scale's own plus the propagated coarser ones.
  EXPECT_EQ(p["scale_0.refinement.semseg.0.conv1.weight"].size(1), 18 + 36);
  EXPECT_EQ(p["scale_2.refinement.semseg.0.conv1.weight"].size(1), 72 + 144);
  // FPM over 4 tasks of 36 channels: f maps 144 → 36 → 144.
  EXPECT_EQ(p["fpm_scale_1.non_linear.2.weight"].sizes(), (std::vector<std::int64_t>{144, 36, 1, 1}));

  m->eval();
  torch::NoGradGuard g;
  ModelOutput out = m->forward(torch::randn({1, 3, 64, 96}));
  ASSERT_EQ(out.aux.size(), 16u);  // 4 scales x 4 tasks
  const std::int64_t strides[] = {4, 8, 16, 32};
  for (std::size_t s = 0; s < 4; ++s)
    for (const auto& t : {"semseg", "normals", "edge", "depth"}) {
      const AuxOutput* a = find_aux(out, "deep_supervision.scale_" + std::to_string(s) + "." + t);
      ASSERT_NE(a, nullptr) << s << " " << t;
      EXPECT_EQ(a->task, t);
      EXPECT_EQ(a->value.size(1), kOutputs.at(t));
      EXPECT_EQ(a->value.size(2), 64 / strides[s]);
      EXPECT_EQ(a->value.size(3), 96 / strides[s]);
    }
  EXPECT_EQ(out.tasks.at("depth").sizes(), (std::vector<std::int64_t>{1, 1, 64, 96}));
}

TEST(MtiNet, FpmSoftmaxGroupsAreTheReferencesAdjacentChannels) {
  // The reference's view(B, C, N, H, W) of a task-major concatenation groups N adjacent channels:
  // flat channel k = c·N + n is normalised with channels c·N .. c·N + N − 1.
  const std::vector<std::string> tasks = {"semseg", "normals", "depth"};
  FPM fpm(tasks, 6);
  torch::Tensor shared = torch::randn({2, 18, 3, 5});
  torch::Tensor m = fpm->mask(shared);
  ASSERT_EQ(m.sizes(), (std::vector<std::int64_t>{2, 6, 3, 3, 5}));
  EXPECT_LT((m.sum(2) - 1).abs().max().item<double>(), 1e-6);
  torch::Tensor flat = m.reshape({2, 18, 3, 5});
  for (std::int64_t k = 0; k < 18; ++k) {
    torch::Tensor group = shared.slice(1, k / 3 * 3, k / 3 * 3 + 3);
    torch::Tensor expected = shared.select(1, k).exp() / group.exp().sum(1);
    EXPECT_LT((flat.select(1, k) - expected).abs().max().item<double>(), 1e-6) << k;
  }
  // Which is not a softmax over the tasks for a fixed channel (task-major view(B, N, C, H, W)).
  torch::Tensor over_tasks = torch::softmax(shared.reshape({2, 3, 6, 3, 5}), 1).reshape({2, 18, 3, 5});
  EXPECT_GT((flat - over_tasks).abs().max().item<double>(), 1e-3);
}

TEST(DecoderFocused, EveryParameterIsReachedByTheLosses) {
  torch::manual_seed(0);
  torch::Tensor image = torch::randn({2, 3, 64, 64});
  expect_every_parameter_used(*make_architecture(hrnet_spec("pad_net", {"semseg", "depth"}, {"normals"})), image);
  expect_every_parameter_used(*make_architecture(hrnet_spec("mti_net", {"semseg", "depth"}, {"edge"})), image);
  expect_every_parameter_used(*make_architecture(hrnet_spec("pap_net", {"semseg", "normals", "depth"})), image);
  expect_every_parameter_used(*make_architecture(hrnet_spec("jtrl", {"semseg", "depth"})), image);
}

TEST(DecoderFocused, UnsupportedTaskSetsAndBackbonesAreClearErrors) {
  test::expect_error([] { make_architecture(test::model_spec("pad_net", "resnet18", {"semseg", "depth"}, kOutputs)); },
                     {"backbone.name", "pad_net", "hrnet_w18"});
  test::expect_error([] { make_architecture(hrnet_spec("mti_net", {"semseg"})); }, {"tasks.main", "at least two tasks", "semseg"});
  // One main task with an auxiliary one is enough to distil.
  EXPECT_NO_THROW(make_architecture(hrnet_spec("mti_net", {"semseg"}, {"depth"})));
  test::expect_error([] { make_architecture(hrnet_spec("jtrl", {"semseg", "normals", "depth"})); },
                     {"tasks.main", "jtrl", "[semseg, depth]", "semseg, normals, depth"});
  test::expect_error([] { make_architecture(hrnet_spec("jtrl", {"semseg", "depth"}, {"edge"})); }, {"tasks.aux", "jtrl"});
  test::expect_error([] { make_architecture(hrnet_spec("pap_net", {"semseg", "depth"}, {}, "{affinity_impl: factorised}")); },
                     {"model.pap_net.affinity_impl", "row_sum"});
}

// --- PAP-Net (Zhang et al., CVPR 2019) ---

namespace {

// Random embeddings of T tasks: B × N × C, in double for the closed-form comparisons.
std::vector<torch::Tensor> embeddings(int tasks, std::int64_t n, std::int64_t c, torch::ScalarType type = torch::kFloat64) {
  std::vector<torch::Tensor> out;
  for (int j = 0; j < tasks; ++j) out.push_back(torch::randn({2, n, c}, torch::TensorOptions().dtype(type)) * 0.3);
  return out;
}

}  // namespace

TEST(PapNet, AffinitiesAreRowStochasticAndSoAreTheirCombinations) {
  torch::manual_seed(1);
  auto phi = embeddings(3, 40, 8, torch::kFloat32);
  torch::Tensor alpha = torch::softmax(torch::randn({3}), 0);
  EXPECT_NEAR(alpha.sum().item<double>(), 1.0, 1e-6);
  for (auto norm : {pap::Normalisation::RowSoftmax, pap::Normalisation::RowSum}) {
    pap::Affinities a(phi, norm, false);
    torch::Tensor combined = torch::zeros({2, 40, 40});
    for (std::size_t j = 0; j < 3; ++j) {
      torch::Tensor m = a.matrix(j);
      EXPECT_GE(m.min().item<double>(), 0.0);
      EXPECT_LT((m.sum(-1) - 1).abs().max().item<double>(), 1e-5);
      combined = combined + alpha[static_cast<std::int64_t>(j)] * m;
    }
    EXPECT_LT((combined.sum(-1) - 1).abs().max().item<double>(), 1e-5);
    // apply_combined is M̂·X without forming M̂.
    torch::Tensor x = torch::randn({2, 40, 5});
    EXPECT_LT((a.apply_combined(alpha, x) - torch::bmm(combined, x)).abs().max().item<double>(), 1e-5);
  }
}

TEST(PapNet, DiffusionFixedPointsAndTrivialCases) {
  torch::manual_seed(2);
  auto phi = embeddings(2, 16, 6);
  pap::Affinities a(phi, pap::Normalisation::RowSoftmax, false);
  torch::Tensor alpha = torch::tensor({0.3, 0.7}, torch::kFloat64);
  torch::Tensor x0 = torch::randn({2, 16, 4}, torch::kFloat64);
  // β = 0 or K = 0: the restart term alone.
  EXPECT_LT((pap::diffuse(a, alpha, x0, 0.0, 5) - x0).abs().max().item<double>(), 1e-12);
  EXPECT_LT((pap::diffuse(a, alpha, x0, 0.5, 0) - x0).abs().max().item<double>(), 1e-12);
  // A constant field is a fixed point of every row-stochastic propagation.
  torch::Tensor constant = torch::full({2, 16, 4}, 2.5, torch::kFloat64);
  EXPECT_LT((pap::diffuse(a, alpha, constant, 0.9, 7) - constant).abs().max().item<double>(), 1e-10);
  // M = I (embeddings so far apart that each pixel's softmax is itself): X^0 comes back.
  torch::Tensor eye = 100 * torch::eye(16, torch::kFloat64).unsqueeze(0).repeat({2, 1, 1});
  pap::Affinities identity({eye}, pap::Normalisation::RowSoftmax, false);
  EXPECT_LT((pap::diffuse(identity, torch::ones({1}, torch::kFloat64), x0, 0.5, 4) - x0).abs().max().item<double>(), 1e-10);
}

TEST(PapNet, KStepsEqualTheClosedFormAndConvergeToTheResolvent) {
  torch::manual_seed(3);
  auto phi = embeddings(3, 16, 5);
  pap::Affinities a(phi, pap::Normalisation::RowSum, false);
  torch::Tensor alpha = torch::softmax(torch::randn({3}, torch::kFloat64), 0);
  torch::Tensor x0 = torch::randn({2, 16, 3}, torch::kFloat64);
  const double beta = 0.4;
  torch::Tensor m = torch::zeros({2, 16, 16}, torch::kFloat64);
  for (std::size_t j = 0; j < 3; ++j) m = m + alpha[static_cast<std::int64_t>(j)] * a.matrix(j);
  torch::Tensor bm = beta * m;
  // X^K = (βM̂)^K X^0 + (1 − β) Σ_{k<K} (βM̂)^k X^0
  const int k_steps = 5;
  torch::Tensor power = torch::eye(16, torch::kFloat64).unsqueeze(0).repeat({2, 1, 1}), sum = torch::zeros_like(power);
  for (int k = 0; k < k_steps; ++k) {
    sum = sum + power;
    power = torch::bmm(bm, power);
  }
  torch::Tensor closed = torch::bmm(power, x0) + (1 - beta) * torch::bmm(sum, x0);
  EXPECT_LT((pap::diffuse(a, alpha, x0, beta, k_steps) - closed).abs().max().item<double>(), 1e-10);
  // K → ∞: (1 − β)(I − βM̂)⁻¹ X^0.
  torch::Tensor resolvent = (1 - beta) * torch::linalg_solve(torch::eye(16, torch::kFloat64) - bm, x0);
  EXPECT_LT((pap::diffuse(a, alpha, x0, beta, 200) - resolvent).abs().max().item<double>(), 1e-5);
}

TEST(PapNet, FactorisedPathEqualsTheDenseOne) {
  torch::manual_seed(4);
  auto phi = embeddings(2, 50, 12, torch::kFloat32);
  pap::Affinities dense(phi, pap::Normalisation::RowSum, false), factorised(phi, pap::Normalisation::RowSum, true);
  torch::Tensor x = torch::randn({2, 50, 7});
  for (std::size_t j = 0; j < 2; ++j) {
    EXPECT_LT((dense.apply(j, x) - factorised.apply(j, x)).abs().max().item<double>(), 1e-4);
    EXPECT_LT((dense.matrix(j) - factorised.matrix(j)).abs().max().item<double>(), 1e-5);
  }
  // The whole network, same weights, either path.
  const std::vector<std::string> tasks = {"semseg", "depth"};
  auto a = make_architecture(hrnet_spec("pap_net", tasks, {}, "{normalisation: row_sum, affinity_impl: dense, beta: 0.5}"));
  auto b = make_architecture(hrnet_spec("pap_net", tasks, {}, "{normalisation: row_sum, affinity_impl: factorised, beta: 0.5}"));
  {
    torch::NoGradGuard g;
    auto pb = b->named_parameters();
    for (const auto& p : a->named_parameters()) pb[p.key()].copy_(p.value());
    auto bb = b->named_buffers();
    for (const auto& p : a->named_buffers()) bb[p.key()].copy_(p.value());
  }
  a->eval();
  b->eval();
  torch::NoGradGuard g;
  torch::Tensor image = torch::randn({1, 3, 64, 96});
  ModelOutput oa = a->forward(image), ob = b->forward(image);
  for (const auto& t : tasks) EXPECT_LT((oa.tasks.at(t) - ob.tasks.at(t)).abs().max().item<double>(), 1e-4) << t;
}

TEST(PapNet, GradientsReachTheCombinationAndEveryTasksEmbedding) {
  auto m = build<PapNetImpl>(hrnet_spec("pap_net", {"semseg", "depth"}, {"normals"}));
  EXPECT_EQ(m->combination.sizes(), (std::vector<std::int64_t>{2, 3}));
  EXPECT_LT((m->alpha().sum(1) - 1).abs().max().item<double>(), 1e-6);
  m->train();
  ModelOutput out = m->forward(torch::randn({2, 3, 64, 64}));
  // Depth's loss alone: its combination row and every task's embedding, not semseg's row.
  out.tasks.at("depth").square().mean().backward();
  EXPECT_GT(m->combination.grad()[1].abs().sum().item<double>(), 0);
  EXPECT_EQ(m->combination.grad()[0].abs().sum().item<double>(), 0);
  for (const auto& t : {"semseg", "normals", "depth"})
    EXPECT_GT(m->embedding.at(t)->weight.grad().abs().sum().item<double>(), 0) << t;
  // Outputs: main tasks at the input size, an initial prediction per task at 1/4.
  EXPECT_EQ(out.tasks.at("semseg").sizes(), (std::vector<std::int64_t>{2, 40, 64, 64}));
  EXPECT_EQ(out.tasks.count("normals"), 0u);
  ASSERT_NE(find_aux(out, "initial_normals"), nullptr);
  EXPECT_EQ(find_aux(out, "initial_normals")->value.sizes(), (std::vector<std::int64_t>{2, 3, 16, 16}));
}

// --- JTRL (Zhang et al., ECCV 2018) ---

TEST(Jtrl, SlicesPredictCoarseToFineInAlternatingOrder) {
  auto m = build<JtrlImpl>(hrnet_spec("jtrl", {"semseg", "depth"}));
  m->eval();
  torch::NoGradGuard g;
  ModelOutput out = m->forward(torch::randn({1, 3, 64, 96}));
  EXPECT_EQ(m->last_order, (std::vector<std::string>{"D1", "S1", "D2", "S2", "D3", "S3", "D4", "S4"}));
  // R = 4: three deep-supervision steps per task at 1/32, 1/16, 1/8, and the final one.
  ASSERT_EQ(out.aux.size(), 6u);
  const std::int64_t strides[] = {32, 16, 8};
  for (int t = 1; t <= 3; ++t)
    for (const auto& task : {"semseg", "depth"}) {
      const AuxOutput* a = find_aux(out, "deep_supervision.step_" + std::to_string(t) + "." + task);
      ASSERT_NE(a, nullptr) << t << task;
      EXPECT_EQ(a->value.size(2), 64 / strides[t - 1]);
      EXPECT_EQ(a->value.size(1), kOutputs.at(task));
    }
  EXPECT_EQ(out.tasks.at("semseg").sizes(), (std::vector<std::int64_t>{1, 40, 64, 96}));
  auto two = build<JtrlImpl>(hrnet_spec("jtrl", {"semseg", "depth"}, {}, "{slices: 2, channels: 16}"));
  two->eval();
  EXPECT_EQ(two->forward(torch::randn({1, 3, 64, 96})).aux.size(), 2u);
}

TEST(Jtrl, SegmentationReadsTheDepthStateOfItsSliceAndNotTheOtherWayRound) {
  auto m = build<JtrlImpl>(hrnet_spec("jtrl", {"semseg", "depth"}, {}, "{channels: 16}"));
  m->train();
  auto grad_norm = [&](const std::string& loss_of, const std::string& phi_of) {
    m->zero_grad();
    ModelOutput out = m->forward(torch::randn({2, 3, 64, 64}));
    find_aux(out, "deep_supervision.step_1." + loss_of)->value.square().mean().backward();
    double n = 0;
    for (const auto& p : m->phi[0].at(phi_of)->parameters())
      if (p.grad().defined()) n += p.grad().abs().sum().item<double>();
    return n;
  };
  EXPECT_GT(grad_norm("semseg", "depth"), 0.0);
  EXPECT_EQ(grad_norm("depth", "semseg"), 0.0);
}

TEST(Jtrl, TaskAttentionShapesGatesAndItsMaskFreeForm) {
  torch::manual_seed(5);
  TaskAttention tam(8);
  tam->eval();
  torch::NoGradGuard g;
  torch::Tensor a = torch::randn({2, 8, 7, 5}), b = torch::randn({2, 8, 7, 5});
  auto o = tam->forward_all(a, b);
  EXPECT_EQ(o.output.sizes(), a.sizes());
  EXPECT_EQ(o.mask.sizes(), a.sizes());
  for (const auto& gate : {o.balance, o.mask}) {
    EXPECT_GT(gate.min().item<double>(), 0.0);
    EXPECT_LT(gate.max().item<double>(), 1.0);
  }
  // Multiply-accumulates of the conv–deconv path on 8 × 8 (C = 8): strided convs out at 4 × 4
  // and 2 × 2, transposed convs in at 2 × 2 and 4 × 4, 8 · 8 · 9 each per pixel.
  {
    MacCounter counter;
    tam->attention->forward(torch::randn({1, 8, 8, 8}));
    EXPECT_EQ(counter.macs(), (16 + 4 + 4 + 16) * 8 * 8 * 9);
  }
  // g_M's last transposed convolution driven to −∞: M = 0 and the TAM is g_O([f_a; f_b]).
  auto last = tam->attention->ptr<ConvTranspose2dImpl>(tam->attention->size() - 1);
  last->weight.zero_();
  last->bias.fill_(-1e4);
  auto zero = tam->forward_all(a, b);
  EXPECT_EQ(zero.mask.max().item<double>(), 0.0);
  EXPECT_LT((zero.output - tam->out->forward(torch::cat({a, b}, 1))).abs().max().item<double>(), 1e-6);
}

}  // namespace densemtl::models
