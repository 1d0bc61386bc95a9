// The mixture-of-experts family (MMoE, CGC, PLE): each gate mixes its experts with softmax
// weights, one expert is the shared-encoder network, and gradients reach exactly the experts a
// task's path mixes.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "densemtl/models/build.h"
#include "densemtl/train/experiment.h"
#include "model_util.h"
#include "test_util.h"

namespace densemtl::models {

namespace {

const std::map<std::string, std::int64_t> kOutputs = {{"semseg", 40}, {"depth", 1}, {"normals", 3}};

ModelSpec spec(const std::string& arch, const std::vector<std::string>& tasks, const std::string& options = "") {
  return test::model_spec(arch, "resnet18", tasks, kOutputs, options, {}, 0.25);
}

std::shared_ptr<BackboneImpl> expert(ArchitectureImpl& model, const std::string& path) {
  for (const auto& [p, b] : model.backbones())
    if (p == path) return b;
  ADD_FAILURE() << "no backbone " << path;
  return nullptr;
}

torch::Tensor run(BackboneImpl& b, torch::Tensor x, std::size_t first, std::size_t end) {
  Features f{std::move(x)};
  for (std::size_t s = first; s < end; ++s) f = b.forward_stage(s, f);
  return f.at(0);
}

// Sets a gate's softmax to fixed weights: zero matrix, bias log(weights).
void fix_gate(ArchitectureImpl& model, const std::string& gate, const std::vector<double>& weights) {
  torch::NoGradGuard g;
  auto p = model.named_parameters();
  p[gate + ".linear.weight"].zero_();
  p[gate + ".linear.bias"].copy_(torch::log(torch::tensor(weights, torch::kFloat32)));
}

}  // namespace

TEST(MixtureOfExperts, MMoEMixesItsExpertsWithTheGatesSoftmax) {
  const std::vector<std::string> tasks = {"semseg", "depth"};
  Architecture m = make_architecture(spec("mmoe", tasks, "{shared_experts: 3, experts_from: 3}"));
  m->eval();
  fix_gate(*m, "levels.1.gates.semseg", {0.2, 0.3, 0.5});
  fix_gate(*m, "levels.1.gates.depth", {0.6, 0.3, 0.1});
  torch::manual_seed(2);
  torch::Tensor x = torch::randn({2, 3, 40, 48});
  torch::NoGradGuard g;
  ModelOutput out = m->forward(x);
  torch::Tensor trunk = run(*expert(*m, "trunk"), x, 0, 3);
  std::vector<torch::Tensor> e;
  for (int i = 0; i < 3; ++i) e.push_back(run(*expert(*m, "levels.1.shared." + std::to_string(i)), trunk, 3, 5));
  EXPECT_TRUE(torch::allclose(out.representation.for_task("semseg").at(0), 0.2 * e[0] + 0.3 * e[1] + 0.5 * e[2], 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(out.representation.for_task("depth").at(0), 0.6 * e[0] + 0.3 * e[1] + 0.1 * e[2], 1e-5, 1e-6));
  // Gates are per image: a trained gate gives weights that sum to one and differ between images.
  auto named = m->named_parameters();
  named["levels.1.gates.semseg.linear.weight"].normal_(0, 0.5);
  EXPECT_FALSE(torch::allclose(m->forward(x).representation.for_task("semseg").at(0), out.representation.for_task("semseg").at(0)));
}

TEST(MixtureOfExperts, OneExpertIsTheSharedEncoderBaseline) {
  const std::vector<std::string> tasks = {"semseg", "depth", "normals"};
  Architecture moe = make_architecture(spec("mmoe", tasks, "{shared_experts: 1}"));
  Architecture baseline = make_architecture(spec("baseline", tasks));
  ParameterCount a = count_parameters(*moe), b = count_parameters(*baseline);
  std::int64_t gates = 0;
  gates += static_cast<std::int64_t>(tasks.size()) * (3 * 4 * 4 + 1);  // per task: the image pooled to 4x4, one expert
  EXPECT_EQ(a.total, b.total + gates);
  EXPECT_EQ(a.backbone, b.backbone);
  torch::NoGradGuard g;
  auto ours = moe->named_parameters();
  auto our_buffers = moe->named_buffers();
  for (const auto& [from, into] : {std::pair{baseline->named_parameters(), ours}, std::pair{baseline->named_buffers(), our_buffers}})
    for (const auto& p : from) {
      std::string name = p.key().rfind("backbone.", 0) == 0 ? "levels.1.shared.0." + p.key().substr(9) : p.key();
      ASSERT_TRUE(into.contains(name)) << name;
      into[name].copy_(p.value());
    }
  moe->eval();
  baseline->eval();
  torch::manual_seed(4);
  torch::Tensor x = torch::randn({2, 3, 40, 48});
  auto o1 = moe->forward(x), o2 = baseline->forward(x);
  for (const auto& t : tasks) EXPECT_TRUE(torch::allclose(o1.tasks.at(t), o2.tasks.at(t), 1e-5, 1e-6)) << t;
}

TEST(MixtureOfExperts, CgcGatesChooseBetweenOwnAndSharedExperts) {
  const std::vector<std::string> tasks = {"semseg", "depth"};
  Architecture m = make_architecture(spec("cgc", tasks, "{shared_experts: 1, task_experts: 1, experts_from: 4}"));
  m->eval();
  // semseg's gate: [its own expert, the shared one]; all on its own expert.
  fix_gate(*m, "levels.1.gates.semseg", {1.0, 1e-30});
  fix_gate(*m, "levels.1.gates.depth", {0.25, 0.75});
  torch::manual_seed(5);
  torch::Tensor x = torch::randn({1, 3, 40, 48});
  torch::NoGradGuard g;
  ModelOutput out = m->forward(x);
  torch::Tensor trunk = run(*expert(*m, "trunk"), x, 0, 4);
  torch::Tensor own_semseg = run(*expert(*m, "levels.1.tasks.semseg.0"), trunk, 4, 5);
  torch::Tensor own_depth = run(*expert(*m, "levels.1.tasks.depth.0"), trunk, 4, 5);
  torch::Tensor shared = run(*expert(*m, "levels.1.shared.0"), trunk, 4, 5);
  EXPECT_TRUE(torch::allclose(out.representation.for_task("semseg").at(0), own_semseg, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(out.representation.for_task("depth").at(0), 0.25 * own_depth + 0.75 * shared, 1e-5, 1e-6));
  // Groups: a task's experts and gate are that task's; the shared expert and trunk are shared.
  std::size_t depth_experts = 0, depth_gate = 0, shared_experts = 0, trunk_parts = 0;  // parameters each check saw
  for (const auto& [name, part] : m->parameter_parts()) {
    if (name.rfind("levels.1.tasks.depth.", 0) == 0 || name.rfind("levels.1.gates.depth.", 0) == 0) {
      EXPECT_EQ(part->group.name(), "task:depth") << name;
      if (name.rfind("levels.1.tasks.depth.", 0) == 0) ++depth_experts;
      else ++depth_gate;
    }
    if (name.rfind("levels.1.shared.", 0) == 0 || name.rfind("trunk.", 0) == 0) {
      EXPECT_EQ(part->group.name(), "shared") << name;
      if (name.rfind("levels.1.shared.", 0) == 0) ++shared_experts;
      else ++trunk_parts;
    }
  }
  EXPECT_GT(depth_experts, 0u) << "no parameter of levels.1.tasks.depth.";
  EXPECT_GT(depth_gate, 0u) << "no parameter of levels.1.gates.depth.";
  EXPECT_GT(shared_experts, 0u) << "no parameter of levels.1.shared.";
  EXPECT_GT(trunk_parts, 0u) << "no parameter of trunk.";
}

TEST(MixtureOfExperts, PleStacksLevelsWhoseSharedGatesCarryEveryTask) {
  const std::vector<std::string> tasks = {"semseg", "depth"};
  Architecture ple = make_architecture(spec("ple", tasks, "{experts_from: 3}"));
  Architecture cgc = make_architecture(spec("cgc", tasks, "{experts_from: 3}"));
  auto named = ple->named_parameters();
  // Levels 1 (layer3) and 2 (layer4); a shared gate between them only.
  EXPECT_TRUE(named.contains("levels.1.shared_gate.linear.weight"));
  EXPECT_FALSE(named.contains("levels.2.shared_gate.linear.weight"));
  EXPECT_EQ(named["levels.1.shared_gate.linear.weight"].size(0), 3);  // 2 task experts + 1 shared
  EXPECT_TRUE(named.contains("levels.2.tasks.depth.0.layer4.0.conv1.weight"));
  EXPECT_FALSE(named.contains("levels.2.tasks.depth.0.layer3.0.conv1.weight"));
  // The same experts as CGC (one copy of layer3+layer4 per expert), split into levels.
  EXPECT_EQ(count_parameters(*ple).backbone, count_parameters(*cgc).backbone);
  // PLE with one level is CGC: the same names and counts.
  Architecture one = make_architecture(spec("ple", tasks, "{experts_from: 4}"));
  Architecture cgc4 = make_architecture(spec("cgc", tasks, "{experts_from: 4}"));
  EXPECT_EQ(count_parameters(*one).total, count_parameters(*cgc4).total);
  // depth's loss reaches semseg's level-1 experts (through the shared gate) but not its level-2 ones.
  ple->train();
  ModelOutput out = ple->forward(torch::randn({2, 3, 40, 48}));
  out.tasks.at("depth").pow(2).mean().backward();
  auto reached = [&](const std::string& name) {
    auto g = named[name].grad();
    return g.defined() && g.abs().sum().item<double>() > 0;
  };
  EXPECT_TRUE(reached("levels.1.tasks.semseg.0.layer3.0.conv1.weight"));
  EXPECT_FALSE(reached("levels.2.tasks.semseg.0.layer4.0.conv1.weight"));
  EXPECT_FALSE(reached("levels.2.gates.semseg.linear.weight"));
  EXPECT_TRUE(reached("levels.2.gates.depth.linear.weight"));
  std::size_t level1_semseg = 0, level2_semseg = 0;  // parameters each check below saw
  for (const auto& [name, part] : ple->parameter_parts()) {
    if (name.rfind("levels.1.tasks.semseg.", 0) == 0) {
      EXPECT_FALSE(part->group.exclusive) << name;
      ++level1_semseg;
    }
    if (name.rfind("levels.2.tasks.semseg.", 0) == 0) {
      EXPECT_TRUE(part->group.exclusive) << name;
      ++level2_semseg;
    }
  }
  EXPECT_GT(level1_semseg, 0u) << "no parameter of levels.1.tasks.semseg.";
  EXPECT_GT(level2_semseg, 0u) << "no parameter of levels.2.tasks.semseg.";
  // One task is refused; the experts' block must exist.
  test::expect_error([] { make_architecture(spec("ple", {"semseg"})); }, {"tasks.main", "two or more tasks"});
  test::expect_error([] { spec("mmoe", {"semseg", "depth"}, "{experts_from: 5}"); }, {"model.mmoe.experts_from"});
}

TEST(MixtureOfExperts, DSelectKSelectorsAreSmoothStepsOverBinaryCodes) {
  const std::vector<std::string> tasks = {"semseg", "depth"};
  torch::manual_seed(8);
  torch::Tensor x = torch::randn({1, 3, 40, 48});
  torch::NoGradGuard g;
  // Two experts, one selector: r = [1 - S(z), S(z)], S(z) = -2 z^3 + 3/2 z + 1/2 on [-1/2, 1/2] (gamma 1).
  Architecture two = make_architecture(spec("dselect_k", tasks, "{shared_experts: 2, selectors: 1, experts_from: 4}"));
  two->eval();
  auto p = two->named_parameters();
  torch::Tensor trunk = run(*expert(*two, "trunk"), x, 0, 4);
  torch::Tensor e0 = run(*expert(*two, "levels.1.shared.0"), trunk, 4, 5), e1 = run(*expert(*two, "levels.1.shared.1"), trunk, 4, 5);
  p["levels.1.gates.semseg.z.weight"].zero_();
  for (const auto& [z, step] : std::vector<std::pair<double, double>>{{-0.5, 0.0}, {-2.0, 0.0}, {0.0, 0.5}, {0.25, 0.84375}, {0.5, 1.0}, {3.0, 1.0}}) {
    p["levels.1.gates.semseg.z.bias"].fill_(z);
    torch::Tensor mixed = two->forward(x).representation.for_task("semseg").at(0);
    EXPECT_TRUE(torch::allclose(mixed, (1 - step) * e0 + step * e1, 1e-5, 1e-6)) << "z = " << z;
  }
  // Four experts, two selectors saturated on experts 2 (code 10) and 1 (code 01), weighted 0.7 / 0.3.
  Architecture four = make_architecture(spec("dselect_k", tasks, "{shared_experts: 4, selectors: 2, experts_from: 4}"));
  four->eval();
  auto q = four->named_parameters();
  q["levels.1.gates.depth.z.weight"].zero_();
  q["levels.1.gates.depth.z.bias"].copy_(torch::tensor({10.0f, -10.0f, -10.0f, 10.0f}));
  q["levels.1.gates.depth.alpha.weight"].zero_();
  q["levels.1.gates.depth.alpha.bias"].copy_(torch::log(torch::tensor({0.7f, 0.3f})));
  torch::Tensor t4 = run(*expert(*four, "trunk"), x, 0, 4);
  torch::Tensor f1 = run(*expert(*four, "levels.1.shared.1"), t4, 4, 5), f2 = run(*expert(*four, "levels.1.shared.2"), t4, 4, 5);
  EXPECT_TRUE(torch::allclose(four->forward(x).representation.for_task("depth").at(0), 0.7 * f2 + 0.3 * f1, 1e-5, 1e-6));
  // With random selectors the weights sum to one: identical experts give back their output.
  for (int i = 1; i < 4; ++i) {
    auto into = expert(*four, "levels.1.shared." + std::to_string(i))->named_parameters();
    for (const auto& w : expert(*four, "levels.1.shared.0")->named_parameters()) into[w.key()].copy_(w.value());
    auto into_b = expert(*four, "levels.1.shared." + std::to_string(i))->named_buffers();
    for (const auto& w : expert(*four, "levels.1.shared.0")->named_buffers()) into_b[w.key()].copy_(w.value());
  }
  q["levels.1.gates.semseg.z.weight"].normal_(0, 1);
  q["levels.1.gates.semseg.alpha.weight"].normal_(0, 1);
  torch::Tensor f0 = run(*expert(*four, "levels.1.shared.0"), t4, 4, 5);
  EXPECT_TRUE(torch::allclose(four->forward(x).representation.for_task("semseg").at(0), f0, 1e-5, 1e-6));
  test::expect_error([] { make_architecture(spec("dselect_k", {"semseg", "depth"}, "{shared_experts: 2, selectors: 3}")); },
                     {"model.dselect_k.selectors", "3 selectors for 2 experts"});
}

}  // namespace densemtl::models
