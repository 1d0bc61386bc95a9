// torch
// Numeric parity with the reference implementation: fixtures (weights, an input and every
// output, deep supervision and exposed features included) reproduced to within 1e-4.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cstdlib>

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
using test::as_map;
namespace {

// The parity fixtures (not in the repository): $DENSEMTL_PARITY_DIR, where scripts/test.sh writes
// them with tests/python/parity_fixtures.py (so they run in CI), else the reference's own fixtures
// in the shared folder beside the checkout when it exists.
fs::path parity_dir() {
  if (const char* env = std::getenv("DENSEMTL_PARITY_DIR")) return env;
  const fs::path shared = fs::path(DENSEMTL_SHARED_DIR) / "parity";
  return fs::exists(shared / "pascal_resnet18_semseg.pt") ? shared : fs::path();
}

// Every output of a model by the name the reference implementation gives it: the tasks'
// predictions, deep supervision ("initial_semseg", "deep_supervision.scale_0.depth") and exposed
// features ("deep_supervision.scale_0.features_depth").
std::map<std::string, at::Tensor> named_outputs(const ModelOutput& out) {
  std::map<std::string, at::Tensor> named(out.tasks.begin(), out.tasks.end());
  for (const auto& a : out.aux) named[a.name] = a.value;
  for (const auto& [name, value] : out.features) named[name] = value;
  return named;
}

// Loads a parity fixture into `model`, runs its input and compares every output. With
// $DENSEMTL_PARITY_DIR set (as scripts/test.sh sets it), a missing fixture fails the test; without
// it, a fixture the shared folder lacks is skipped, saying so.
void check_parity(ArchitectureImpl& model, const std::string& file) {
  const fs::path dir = parity_dir();
  if (dir.empty()) GTEST_SKIP() << "no parity fixtures: set DENSEMTL_PARITY_DIR (scripts/test.sh writes them)";
  if (!std::getenv("DENSEMTL_PARITY_DIR") && !fs::exists(dir / file)) GTEST_SKIP() << file << " not in " << dir;
  ASSERT_TRUE(fs::exists(dir / file)) << file << " not in " << dir << " (tests/python/parity_fixtures.py writes it)";
  auto all = as_map(torchfile::tensors(torchfile::load(dir / file)));
  std::vector<std::pair<std::string, at::Tensor>> weights;
  for (const auto& [k, v] : all)
    if (k.rfind("weights.", 0) == 0) weights.emplace_back(k.substr(8), v);
  LoadReport r = load_tensors(model, weights);
  EXPECT_TRUE(r.missing.empty() && r.unexpected.empty() && r.mismatched.empty()) << r.summary(50);
  model.eval();
  torch::NoGradGuard g;
  const std::map<std::string, at::Tensor> outputs = named_outputs(model.forward(all.at("input")));
  int compared = 0;
  for (const auto& [k, expected] : all) {
    if (k.rfind("output.", 0) != 0) continue;
    const std::string task = k.substr(7);
    const at::Tensor got = outputs.count(task) ? outputs.at(task) : at::Tensor();
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

TEST(Parity, ResNet18DeepLabSingleTaskMatchesTheReference) {
  Architecture m = make_architecture(spec("single_task", "resnet18", {"semseg"}, kPascal));
  check_parity(*m, "pascal_resnet18_semseg.pt");
}

TEST(Parity, HRNet18MultiTaskBaselineMatchesTheReference) {
  Architecture m = make_architecture(spec("baseline", "hrnet_w18", {"semseg", "depth"}, kNyud));
  check_parity(*m, "nyud_hrnet18_multi_task_baseline.pt");
}

// Decoder-focused models: the outputs include the deep-supervision ones and, for MTI-Net, each
// scale's refined features, as the reference code returns them.
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

}  // namespace densemtl::models
