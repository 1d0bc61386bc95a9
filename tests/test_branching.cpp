// Branched multi-task networks: the tree as data, the network built from it, and the choice of a
// tree (representation similarity analysis, enumeration, cost, budget) — the properties of
// the procedure of Vandenhende et al., BMVC 2020.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <set>

#include "densemtl/models/architectures/branched.h"
#include "densemtl/models/build.h"
#include "densemtl/train/branching.h"
#include "densemtl/train/experiment.h"
#include "model_util.h"
#include "test_util.h"

namespace densemtl {

namespace {

using models::Tree;

const std::vector<std::string> kTasks = {"semseg", "depth", "normals", "edge"};
const std::map<std::string, std::int64_t> kOutputs = {{"semseg", 40}, {"depth", 1}, {"normals", 3}, {"edge", 1}};

// A model spec on a quarter-width ResNet-18; `tree` (config entries) set through an experiment config.
models::ModelSpec spec(const std::string& arch, const std::vector<std::string>& tasks, const std::vector<std::string>& tree = {}) {
  return test::model_spec(arch, "resnet18", tasks, kOutputs, tree.empty() ? "" : "{tree: [\"" + join(tree, "\", \"") + "\"]}", {}, 0.25);
}

Tree tree(const std::vector<std::string>& entries, const std::vector<std::string>& tasks = kTasks) {
  return Tree::parse(entries, tasks, 4, "tree");
}

// Random features with a given number of rows, and their RDM through a store.
torch::Tensor rdm_of(const torch::Tensor& features) {
  torch::Tensor z = branching::standardize_rows(features);
  branching::RowStore store(z.size(1), z.size(0), 1 << 30, "");
  store.append(z);
  return branching::dissimilarity(store.gram());
}

}  // namespace

TEST(BranchedTree, ParsesCanonicallyAndRefusesWhatIsNotATree) {
  Tree t = tree({"edge: 7 7 2 2", "semseg: 7 3 3 3", "depth: 7 3 3 4", "normals: 7 7 2 5"});
  // Renumbered in order of first appearance over the tasks.
  EXPECT_EQ(t.entries(), (std::vector<std::string>{"semseg: 0 0 0 0", "depth: 0 0 0 1", "normals: 0 1 1 2", "edge: 0 1 1 3"}));
  EXPECT_EQ(t.text(), "{semseg,depth,normals,edge} {semseg,depth|normals,edge} {semseg,depth|normals,edge} {semseg|depth|normals|edge}");
  EXPECT_EQ(t.instances(0), 1);
  EXPECT_EQ(t.instances(3), 4);
  EXPECT_EQ(Tree::parse(t.entries(), kTasks, 4, "x"), t);
  test::expect_error([] { tree({"semseg: 0 0 0 0", "depth: 0 0 0 1", "normals: 0 1 1 2"}); }, {"tree", "edge has no entry"});
  test::expect_error([] { tree({"semseg: 0 0 0 0", "semseg: 0 0 0 0", "normals: 0 1 1 2", "edge: 0 1 1 3"}); },
                     {"tree", "semseg is given twice"});
  test::expect_error([] { tree({"sal: 0 0 0 0"}); }, {"tree", "'sal' is not a task"});
  test::expect_error([] { tree({"semseg: 0 0 0", "depth: 0 0 0 1", "normals: 0 1 1 2", "edge: 0 1 1 3"}); },
                     {"semseg: 3 indices given, the backbone has 4 blocks"});
  test::expect_error([] { tree({"semseg: 0 0 0 x", "depth: 0 0 0 1", "normals: 0 1 1 2", "edge: 0 1 1 3"}); }, {"'x' is not"});
  test::expect_error([] { tree({"semseg 0 0 0 0"}); }, {"is not 'task: i1 ... i4'"});
  // Groups that merge again are not a tree.
  test::expect_error([] { tree({"semseg: 0 0 0 0", "depth: 0 1 0 0", "normals: 0 1 1 2", "edge: 0 1 1 3"}); },
                     {"semseg and depth share block 3 but not block 2"});
  // Building the model checks the tree of its config, naming the key.
  test::expect_error([] { models::make_architecture(spec("branched", {"semseg", "depth"}, {"semseg: 0 0", "depth: 0 0"})); },
                     {"model.branched.tree", "2 indices given"});
}

TEST(Branched, SharingNothingIsTheSingleTaskNetworksAndEverythingTheBaseline) {
  const std::vector<std::string> tasks = {"semseg", "depth", "normals"};
  auto total = [](const models::ModelSpec& s) { return models::count_parameters(*models::make_architecture(s)).total; };
  std::int64_t single_tasks = 0;
  for (const auto& t : tasks) single_tasks += total(spec("single_task", {t}));
  models::Architecture separate = models::make_architecture(spec("branched", tasks, {"semseg: 0 0 0 0", "depth: 1 1 1 1", "normals: 2 2 2 2"}));
  models::ParameterCount sep = models::count_parameters(*separate);
  EXPECT_EQ(sep.total, single_tasks);
  EXPECT_EQ(sep.backbones, 3);  // three whole backbones
  EXPECT_EQ(sep.backbone, models::count_parameters(*models::make_architecture(spec("single_task", {"depth"}))).backbone);
  // The default tree (empty) shares every block: the baseline's count and, with its weights, its outputs.
  models::Architecture shared = models::make_architecture(spec("branched", tasks));
  models::Architecture baseline = models::make_architecture(spec("baseline", tasks));
  EXPECT_EQ(models::count_parameters(*shared).total, models::count_parameters(*baseline).total);
  {
    torch::NoGradGuard g;
    auto ours = shared->named_parameters();
    auto our_buffers = shared->named_buffers();
    std::size_t copied = 0;
    for (const auto& [from, into] : {std::pair{baseline->named_parameters(), ours}, std::pair{baseline->named_buffers(), our_buffers}})
      for (const auto& p : from) {
        std::string name = p.key();
        if (name.rfind("backbone.", 0) == 0) {
          std::string rest = name.substr(9);
          for (int d = 1; d <= 4; ++d)
            if (into.contains("encoder.block" + std::to_string(d) + ".0." + rest)) name = "encoder.block" + std::to_string(d) + ".0." + rest;
        }
        ASSERT_TRUE(into.contains(name)) << p.key();
        into[name].copy_(p.value());
        ++copied;
      }
    EXPECT_EQ(copied, baseline->named_parameters().size() + baseline->named_buffers().size());
    shared->eval();
    baseline->eval();
    torch::manual_seed(3);
    torch::Tensor x = torch::randn({2, 3, 40, 48});
    auto a = shared->forward(x), b = baseline->forward(x);
    for (const auto& t : tasks) EXPECT_TRUE(torch::allclose(a.tasks.at(t), b.tasks.at(t), 1e-5, 1e-6)) << t;
    EXPECT_TRUE(a.representation.is_shared());
  }
  // A mixed tree: its count and FLOPs are the block costs' sum; every instance learns from its tasks.
  const std::vector<std::string> entries = {"semseg: 0 0 0 0", "depth: 0 0 1 1", "normals: 0 1 2 2"};
  models::ModelSpec mixed_spec = spec("branched", tasks, entries);
  models::Architecture mixed = models::make_architecture(mixed_spec);
  models::BlockCosts costs = models::block_costs(mixed_spec, 40, 48);
  Tree t = Tree::parse(entries, tasks, 4, "x");
  EXPECT_EQ(models::count_parameters(*mixed).total, costs.params(t));
  EXPECT_EQ(models::count_macs(*mixed, 40, 48), costs.macs(t));
  EXPECT_EQ(costs.params(Tree::shared(tasks, 4)), models::count_parameters(*baseline).total);
  std::int64_t blocks = 0;
  for (auto p : costs.block_params) blocks += p;
  EXPECT_EQ(blocks, models::count_parameters(*baseline).backbone);
  // Names, groups: an instance of one task is that task's, of several or all tasks shared.
  auto named = mixed->named_parameters();
  EXPECT_TRUE(named.contains("encoder.block1.0.conv1.weight"));
  EXPECT_TRUE(named.contains("encoder.block2.1.layer2.0.conv1.weight"));
  EXPECT_TRUE(named.contains("encoder.block4.2.layer4.1.bn2.weight"));
  EXPECT_FALSE(named.contains("encoder.block2.0.layer3.0.conv1.weight"));  // only its own stages
  std::size_t normals_own = 0, shared_parts = 0;  // parameters each check below saw
  for (const auto& [name, part] : mixed->parameter_parts()) {
    if (name.rfind("encoder.block3.2.", 0) == 0) {
      EXPECT_EQ(part->group.name(), "task:normals") << name;
      ++normals_own;
    }
    if (name.rfind("encoder.block2.0.", 0) == 0) {
      EXPECT_EQ(part->group.name(), "shared") << name;
      ++shared_parts;
    }
  }
  EXPECT_GT(normals_own, 0u) << "no parameter of encoder.block3.2.";
  EXPECT_GT(shared_parts, 0u) << "no parameter of encoder.block2.0.";
  mixed->train();
  auto out = mixed->forward(torch::randn({2, 3, 40, 48}));
  EXPECT_FALSE(out.representation.is_shared());
  EXPECT_FALSE(mixed->separable_representation());
  for (const auto& task : tasks) EXPECT_EQ(out.tasks.at(task).sizes(), (std::vector<std::int64_t>{2, kOutputs.at(task), 40, 48}));
  torch::Tensor loss = out.tasks.at("depth").mean();
  loss.backward();
  // depth's loss reaches its path (block 3 instance 1) and the shared stem, not normals' own block.
  EXPECT_TRUE(named["encoder.block3.1.layer3.0.conv1.weight"].grad().defined());
  EXPECT_TRUE(named["encoder.block1.0.conv1.weight"].grad().abs().sum().item<double>() > 0);
  auto normals_block = named["encoder.block3.2.layer3.0.conv1.weight"].grad();
  EXPECT_TRUE(!normals_block.defined() || normals_block.abs().sum().item<double>() == 0);
}

TEST(Branching, DissimilarityMatricesAreSymmetricWithZeroDiagonalInZeroToTwo) {
  torch::manual_seed(1);
  torch::Tensor f = torch::randn({12, 60000});
  f[4].fill_(3.0);  // a constant row correlates 0 with everything
  torch::Tensor z = branching::standardize_rows(f);
  EXPECT_NEAR(z[0].norm().item<double>(), 1.0, 1e-5);
  EXPECT_NEAR(z[0].mean().item<double>(), 0.0, 1e-7);
  EXPECT_EQ(z[4].abs().sum().item<double>(), 0.0);
  // In memory, and spilled to a file in chunks of two rows: the same Gram matrix.
  test::TempDir dir;
  branching::RowStore memory(z.size(1), 12, std::size_t{1} << 30, dir.path() / "unused.f16");
  branching::RowStore file(z.size(1), 12, std::size_t{1} << 20, dir.path() / "rows.f16");
  EXPECT_FALSE(memory.spilled());
  EXPECT_TRUE(file.spilled());
  for (int i = 0; i < 12; i += 5) {
    memory.append(z.slice(0, i, std::min(12, i + 5)));
    file.append(z.slice(0, i, std::min(12, i + 5)));
  }
  torch::Tensor g = memory.gram();
  EXPECT_TRUE(torch::allclose(g, file.gram(), 0, 1e-6));
  EXPECT_TRUE(torch::allclose(g, z.matmul(z.t()), 0, 2e-3));  // fp16 storage
  torch::Tensor rdm = branching::dissimilarity(g);
  EXPECT_TRUE(torch::equal(rdm, rdm.t()));
  EXPECT_EQ(rdm.diagonal().abs().sum().item<double>(), 0.0);
  EXPECT_GE(rdm.min().item<double>(), 0.0);
  EXPECT_LE(rdm.max().item<double>(), 2.0);
  EXPECT_NEAR(rdm[4][7].item<double>(), 1.0, 1e-12);
  // Perfectly anti-correlated rows are 2 apart.
  torch::Tensor pair = torch::stack({torch::arange(5.0), -torch::arange(5.0), torch::arange(5.0) * 2 + 1});
  torch::Tensor r = rdm_of(pair);
  EXPECT_NEAR(r[0][1].item<double>(), 2.0, 1e-3);
  EXPECT_NEAR(r[0][2].item<double>(), 0.0, 1e-3);
  // The store is removed with its file.
  { branching::RowStore gone(z.size(1), 12, std::size_t{1} << 20, dir.path() / "gone.f16"); }
  EXPECT_FALSE(fs::exists(dir.path() / "gone.f16"));
}

TEST(Branching, AffinityIsSymmetricUnitDiagonalAndRankInvariant) {
  EXPECT_TRUE(torch::equal(branching::average_ranks(torch::tensor({3.0, 1.0, 3.0, 2.0, 3.0})),
                           torch::tensor({4.0, 1.0, 4.0, 2.0, 4.0}, torch::kFloat64)));
  torch::manual_seed(2);
  torch::Tensor base = torch::randn({10, 30});
  std::vector<torch::Tensor> rdms = {rdm_of(base), rdm_of(base + 0.5 * torch::randn({10, 30})), rdm_of(torch::randn({10, 30}))};
  torch::Tensor a = branching::affinity(rdms);
  EXPECT_TRUE(torch::equal(a, a.t()));
  EXPECT_TRUE(torch::equal(a.diagonal(), torch::ones({3}, torch::kFloat64)));
  EXPECT_GT(a[0][1].item<double>(), a[0][2].item<double>());  // the related task is closer
  EXPECT_LE(a.abs().max().item<double>(), 1.0);
  // Invariant to a monotone rescaling of one RDM.
  std::vector<torch::Tensor> rescaled = rdms;
  rescaled[1] = torch::exp(3.0 * rdms[1]) - 1.0;
  EXPECT_TRUE(torch::allclose(branching::affinity(rescaled), a, 0, 1e-12));
  // A duplicated task has affinity 1 with its copy.
  torch::Tensor dup = branching::affinity({rdms[0], rdms[2], rdms[0]});
  EXPECT_NEAR(dup[0][2].item<double>(), 1.0, 1e-12);
  // Spearman by hand on K = 3 (three upper entries): ranks (1,2,3) against (3,2,1).
  torch::Tensor x = torch::tensor({{0.0, 0.1, 0.2}, {0.1, 0.0, 0.3}, {0.2, 0.3, 0.0}}, torch::kFloat64);
  torch::Tensor y = torch::tensor({{0.0, 0.9, 0.5}, {0.9, 0.0, 0.4}, {0.5, 0.4, 0.0}}, torch::kFloat64);
  EXPECT_NEAR(branching::rdm_correlation(x, y), -1.0, 1e-12);
  EXPECT_EQ(branching::rdm_correlation(x, torch::zeros({3, 3}, torch::kFloat64)), 0.0);  // constant: no correlation
}

TEST(Branching, TreeCountsAndCostsAreThePapers) {
  const std::vector<std::string> six = {"semseg", "depth", "normals", "edge", "sal", "human_parts"};
  auto first = [&](std::size_t n) { return std::vector<std::string>(six.begin(), six.begin() + static_cast<std::ptrdiff_t>(n)); };
  EXPECT_EQ(branching::enumerate_trees(first(3), 4).size(), 35u);
  EXPECT_EQ(branching::enumerate_trees(first(5), 4).size(), 3455u);
  EXPECT_EQ(branching::enumerate_trees(first(6), 4).size(), 44590u);
  EXPECT_EQ(branching::enumerate_trees(first(6), 5).size(), 120196u);
  std::vector<Tree> trees = branching::enumerate_trees(first(4), 4);
  EXPECT_EQ(trees.size(), 315u);
  std::set<std::vector<std::vector<int>>> distinct;
  for (const auto& t : trees) {
    EXPECT_EQ(Tree::parse(t.entries(), t.tasks, 4, "x"), t);  // valid and canonical
    distinct.insert(t.branch);
  }
  EXPECT_EQ(distinct.size(), trees.size());
  std::vector<Tree> stem = branching::enumerate_trees(first(4), 4, /*shared_first=*/true);
  EXPECT_LT(stem.size(), trees.size());
  for (const auto& t : stem) EXPECT_EQ(t.instances(0), 1);
  // Costs.
  torch::manual_seed(4);
  std::vector<torch::Tensor> aff;
  for (int d = 0; d < 4; ++d) {
    torch::Tensor m = torch::rand({4, 4}, torch::kFloat64) * 2 - 1;
    m = (m + m.t()) / 2;
    m.fill_diagonal_(1.0);
    aff.push_back(m);
  }
  EXPECT_EQ(branching::tree_cost(Tree::separate(first(4), 4), aff), 0.0);
  double shared = 0;
  for (const auto& m : aff) shared += (1.0 - m).max().item<double>();
  EXPECT_NEAR(branching::tree_cost(Tree::shared(first(4), 4), aff), shared, 1e-12);
  // By hand: block 3 {semseg,depth | normals,edge}, block 4 {semseg,depth | normals | edge}.
  Tree t = tree({"semseg: 0 0 0 0", "depth: 0 0 0 0", "normals: 0 0 1 1", "edge: 0 0 1 2"});
  auto w = [&](int d, int i, int j) { return 1.0 - aff[static_cast<std::size_t>(d)][i][j].item<double>(); };
  double expected = (1.0 - aff[0]).max().item<double>() + (1.0 - aff[1]).max().item<double>() + (w(2, 0, 1) + w(2, 2, 3)) / 2 +
                    (w(3, 0, 1) + 0 + 0) / 3;
  EXPECT_NEAR(branching::tree_cost(t, aff), expected, 1e-12);
}

TEST(Branching, TheChosenTreeRespectsTheBudgetAndIsDeterministic) {
  models::ModelSpec s = spec("branched", kTasks);
  models::BlockCosts costs = models::block_costs(s, 48, 64);
  const Tree shared = Tree::shared(kTasks, 4), separate = Tree::separate(kTasks, 4);
  // Budgets.
  branching::Budget b = branching::parse_budget("1.5x", costs, shared, "--budget");
  EXPECT_EQ(b.kind, branching::Budget::Kind::Params);
  EXPECT_DOUBLE_EQ(b.value, 1.5 * static_cast<double>(costs.params(shared)));
  EXPECT_DOUBLE_EQ(branching::parse_budget("25M", costs, shared, "--budget").value, 25e6);
  EXPECT_DOUBLE_EQ(branching::parse_budget("2.5e7 params", costs, shared, "--budget").value, 25e6);
  branching::Budget f = branching::parse_budget("40 GFLOPs", costs, shared, "--budget");
  EXPECT_EQ(f.kind, branching::Budget::Kind::Flops);
  EXPECT_DOUBLE_EQ(f.value, 40e9);
  EXPECT_DOUBLE_EQ(branching::parse_budget("2xflops", costs, shared, "--budget").value, 4.0 * static_cast<double>(costs.macs(shared)));
  for (const std::string bad : {"abc", "-3M", "0", "12Q", "x"})
    test::expect_error([&] { branching::parse_budget(bad, costs, shared, "--budget"); }, {"--budget", "'" + bad + "' is not a budget"});
  // The choice: within the budget, the least cost, the same every time, equal to a brute-force minimum.
  torch::manual_seed(7);
  std::vector<torch::Tensor> aff;
  for (int d = 0; d < 4; ++d) {
    torch::Tensor m = torch::rand({4, 4}, torch::kFloat64);
    m = (m + m.t()) / 2;
    m.fill_diagonal_(1.0);
    aff.push_back(m);
  }
  std::vector<Tree> trees = branching::enumerate_trees(kTasks, 4);
  auto ranked = branching::rank_trees(trees, aff, costs, b);
  ASSERT_FALSE(ranked.empty());
  EXPECT_LT(ranked.size(), trees.size());
  for (const auto& c : ranked) EXPECT_LE(static_cast<double>(c.params), b.value);
  double least = 1e9;
  for (const auto& t : trees)
    if (static_cast<double>(costs.params(t)) <= b.value) least = std::min(least, branching::tree_cost(t, aff));
  EXPECT_EQ(ranked.front().cost, least);
  EXPECT_EQ(branching::rank_trees(trees, aff, costs, b).front().tree, ranked.front().tree);
  for (std::size_t i = 1; i < ranked.size(); ++i) EXPECT_LE(ranked[i - 1].cost, ranked[i].cost);
  // With every affinity 1 all trees cost 0: the fully shared (fewest parameters) is chosen.
  std::vector<torch::Tensor> ones(4, torch::ones({4, 4}, torch::kFloat64));
  EXPECT_EQ(branching::rank_trees(trees, ones, costs, b).front().tree, shared);
  // With no budget limit and affinity 0 everywhere, separate networks (cost 0) win.
  std::vector<torch::Tensor> zeros(4, torch::eye(4, torch::kFloat64));
  EXPECT_EQ(branching::rank_trees(trees, zeros, costs, branching::parse_budget("10x", costs, shared, "b")).front().tree, separate);
  // A budget under the fully shared network fits nothing.
  EXPECT_TRUE(branching::rank_trees(trees, aff, costs, branching::parse_budget("0.9x", costs, shared, "b")).empty());
}

}  // namespace densemtl

namespace densemtl {

TEST(LearningToBranch, GumbelSamplesFollowTheLogitsWithSoftGradients) {
  torch::manual_seed(9);
  torch::Tensor logits = torch::log(torch::tensor({0.7, 0.2, 0.1}, torch::kFloat64)).expand({20000, 3}).contiguous();
  torch::Tensor hard = models::gumbel_softmax(logits, 1.0, true);
  EXPECT_TRUE(torch::allclose(hard.sum(1), torch::ones({20000}, torch::kFloat64)));
  EXPECT_TRUE(torch::equal(((hard - 1).abs() < 1e-12).sum(1), torch::ones({20000}, torch::kLong)));  // one-hot
  torch::Tensor share = hard.mean(0);  // the Gumbel-max trick samples the softmax exactly
  EXPECT_NEAR(share[0].item<double>(), 0.7, 0.012);
  EXPECT_NEAR(share[1].item<double>(), 0.2, 0.012);
  EXPECT_NEAR(share[2].item<double>(), 0.1, 0.012);
  // Straight-through: the hard sample's gradient is the soft sample's (same noise).
  torch::Tensor theta = torch::tensor({{0.3, -0.2, 0.1}}, torch::kFloat64).requires_grad_(true);
  torch::Tensor v = torch::tensor({{1.0, 2.0, 4.0}}, torch::kFloat64);
  torch::manual_seed(3);
  (models::gumbel_softmax(theta, 0.5, true) * v).sum().backward();
  torch::Tensor hard_grad = theta.grad().clone();
  theta.grad().zero_();
  torch::manual_seed(3);
  (models::gumbel_softmax(theta, 0.5, false) * v).sum().backward();
  EXPECT_TRUE(torch::allclose(hard_grad, theta.grad()));
  EXPECT_GT(hard_grad.abs().sum().item<double>(), 0);
}

TEST(LearningToBranch, InEvaluationItIsTheBranchedNetworkOfItsLearnedTree) {
  const std::vector<std::string> tasks = {"semseg", "depth", "normals"};
  models::ModelSpec s = spec("learning_to_branch", tasks);
  torch::manual_seed(2);
  models::Architecture l2b = models::make_architecture(s);
  auto named = l2b->named_parameters();
  EXPECT_EQ(named["logits.block2.theta"].sizes(), (std::vector<std::int64_t>{3, 3}));
  EXPECT_EQ(named["logits.block4.theta"].sizes(), (std::vector<std::int64_t>{3, 3}));  // one node per task
  EXPECT_FALSE(named.contains("logits.block1.theta"));
  // Parents: block 2 nodes read block-1 node 1; block 3 nodes 0 and 2 read block-2 node 0, node 1 node 2;
  // the task nodes: semseg and depth read block-3 node 2, normals node 0.
  auto set = [&](const std::string& layer, const std::vector<int>& parents) {
    torch::NoGradGuard g;
    torch::Tensor theta = named["logits." + layer + ".theta"];
    theta.fill_(-5.0);
    for (std::size_t c = 0; c < parents.size(); ++c) theta[static_cast<std::int64_t>(c)][parents[c]] = 5.0;
  };
  set("block2", {1, 1, 1});
  set("block3", {0, 2, 0});
  set("block4", {2, 2, 0});
  const std::vector<std::string> learned = l2b->learned_tree();
  // Paths (the node at blocks 1..4): semseg 1 0 2 0, depth 1 0 2 1, normals 1 0 0 2 -> canonical.
  EXPECT_EQ(learned, (std::vector<std::string>{"semseg: 0 0 0 0", "depth: 0 0 0 1", "normals: 0 0 1 2"}));
  // The branched network of that tree, with the weights of the nodes on the paths, computes the same.
  models::Architecture branched = models::make_architecture(spec("branched", tasks, learned));
  const std::vector<std::vector<int>> raw = {{1, 0, 2, 0}, {1, 0, 2, 1}, {1, 0, 0, 2}};  // [task][block]: the nodes on each path
  Tree tree = Tree::parse(learned, tasks, 4, "x");
  {
    torch::NoGradGuard g;
    auto theirs = l2b->named_parameters();
    auto their_buffers = l2b->named_buffers();
    std::size_t copied = 0;
    for (const auto& [into, from] : {std::pair{branched->named_parameters(), theirs}, std::pair{branched->named_buffers(), their_buffers}})
      for (const auto& p : into) {
        std::string name = p.key();
        if (name.rfind("encoder.block", 0) == 0) {
          const int d = name[13] - '1';
          const int instance = std::stoi(name.substr(15, name.find('.', 15) - 15));
          const std::size_t t = tree.group(static_cast<std::size_t>(d), instance).front();
          name = "encoder.block" + std::to_string(d + 1) + "." + std::to_string(raw[t][static_cast<std::size_t>(d)]) +
                 name.substr(name.find('.', 15));
        }
        ASSERT_TRUE(from.contains(name)) << name;
        p.value().copy_(from[name]);
        ++copied;
      }
    EXPECT_GT(copied, 100u);
  }
  l2b->eval();
  branched->eval();
  torch::manual_seed(4);
  torch::Tensor x = torch::randn({2, 3, 40, 48});
  torch::NoGradGuard g;
  auto a = l2b->forward(x), b = branched->forward(x);
  for (const auto& t : tasks) EXPECT_TRUE(torch::allclose(a.tasks.at(t), b.tasks.at(t), 1e-5, 1e-6)) << t;
  // Evaluation runs only the nodes on the paths: the branched network's FLOPs.
  EXPECT_EQ(models::count_macs(*l2b, 40, 48), models::count_macs(*branched, 40, 48));
  // Training samples parents: outputs vary between passes; in the warm-up every node reads the mean.
  l2b->train();
  {
    torch::NoGradGuard ng;
    named["logits.block2.theta"].zero_();
  }
  // (The encoder's output: the heads' dropout varies anyway.)
  auto encoded = [&](models::ArchitectureImpl& m) { return m.forward(x).representation.for_task("depth").at(0); };
  torch::manual_seed(6);
  torch::Tensor first = encoded(*l2b);
  bool varied = false;
  for (int i = 0; i < 8 && !varied; ++i) varied = !torch::allclose(encoded(*l2b), first);
  EXPECT_TRUE(varied);
  models::Architecture warm = models::make_architecture(
      [&] {
        models::ModelSpec w = spec("learning_to_branch", tasks);
        std::string yaml = "data: {dataset: synthetic, root: none}\ntasks: {main: [semseg, depth, normals]}\nmodel:\n  architecture: "
                           "learning_to_branch\n  head: deeplab\n  learning_to_branch: {warmup_epochs: 1}\nbackbone: {name: resnet18}\n"
                           "optimizer: {name: sgd, lr: 0.01}\ntrain: {epochs: 1}\n";
        w.config = std::make_shared<const config::Config>(config::Config::parse(experiment_schema(), yaml, "test.yaml"));
        return w;
      }());
  warm->train();
  warm->set_epoch(0, 4);
  EXPECT_TRUE(torch::equal(encoded(*warm), encoded(*warm)));
  // Task nodes are their task's; logits are cross-task.
  std::size_t task_nodes = 0, shared_nodes = 0, logit_parts = 0;  // parameters each check below saw
  for (const auto& [name, part] : l2b->parameter_parts()) {
    if (name.rfind("encoder.block4.2.", 0) == 0) {
      EXPECT_EQ(part->group.name(), "task:normals") << name;
      ++task_nodes;
    }
    if (name.rfind("encoder.block3.", 0) == 0) {
      EXPECT_EQ(part->group.name(), "shared") << name;
      ++shared_nodes;
    }
    if (name.rfind("logits.", 0) == 0) {
      EXPECT_EQ(part->group.name(), "cross_task") << name;
      ++logit_parts;
    }
  }
  EXPECT_GT(task_nodes, 0u) << "no parameter of encoder.block4.2.";
  EXPECT_GT(shared_nodes, 0u) << "no parameter of encoder.block3.";
  EXPECT_GT(logit_parts, 0u) << "no parameter of logits.";
}

}  // namespace densemtl
