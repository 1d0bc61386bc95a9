// torch
// Contracts every registered task, architecture and balancer must keep. The tests loop over the
// registries, so a new method is checked here without new test code.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <set>

#include "densemtl/balancing/balancer.h"
#include "densemtl/core/registry.h"
#include "densemtl/models/build.h"
#include "densemtl/models/inference.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/train/checkpoint.h"
#include "densemtl/train/experiment.h"
#include "densemtl/train/optim.h"
#include "densemtl/train/step.h"
#include "balancer_util.h"
#include "model_util.h"
#include "test_util.h"

namespace densemtl {

namespace {

const std::map<std::string, std::int64_t> kOutputs = {{"semseg", 5}, {"human_parts", 4}, {"sal", 1},
                                                      {"normals", 3}, {"edge", 1}, {"depth", 1}};

models::ModelSpec spec_for(const std::string& arch, const std::string& backbone, const std::vector<std::string>& main,
                           const std::vector<std::string>& aux, double width) {
  return test::model_spec(arch, backbone, tasks::canonical(main), kOutputs, "", tasks::canonical(aux), width);
}

// Candidate task sets: every single task, a pair, four tasks, all six; without and with the
// same tasks as auxiliary tasks.
std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> candidate_task_sets() {
  std::vector<std::vector<std::string>> mains;
  for (const auto& t : tasks::names()) mains.push_back({t});
  mains.push_back({"depth", "semseg"});
  mains.push_back({"semseg", "normals", "edge", "depth"});
  mains.push_back(tasks::names());
  std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> out;
  for (const auto& m : mains) {
    out.emplace_back(m, std::vector<std::string>{});
    out.emplace_back(m, m);
  }
  return out;
}

// The architectures each entry accepts, built small.
struct Built {
  std::string what;
  models::ModelSpec spec;
  models::Architecture model;
};

std::vector<Built> build_every_accepted_architecture() {
  std::vector<Built> out;
  for (const auto* entry : Registry<models::ArchitectureEntry>::global().entries())
    for (const char* backbone : {"resnet18", "hrnet_w18"})
      for (const auto& [main, aux] : candidate_task_sets()) {
        models::ModelSpec s = spec_for(entry->name, backbone, main, aux, 0.125);
        if (entry->accepts && !entry->accepts(s).empty()) continue;
        torch::manual_seed(1);
        out.push_back({fmt::format("{} on {} for [{}] aux [{}]", entry->name, backbone, join(s.tasks, ", "), join(s.aux_tasks, ", ")), s,
                       models::make_architecture(s)});
      }
  return out;
}

std::set<const void*> identities(const std::vector<torch::Tensor>& v) {
  std::set<const void*> s;
  for (const auto& t : v) s.insert(t.unsafeGetTensorImpl());
  return s;
}

// Non-trivial batch-norm statistics and affine parameters, so that a wrong fold shows.
void perturb_batch_norms(torch::nn::Module& m) {
  torch::NoGradGuard g;
  for (auto& b : m.named_buffers()) {
    if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0, 0.2);
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
  }
  for (auto& p : m.named_parameters())
    if (p.value().dim() == 1) p.value().uniform_(-0.5, 1.5);
}

double max_relative_difference(const models::ModelOutput& a, const models::ModelOutput& b) {
  double worst = 0;
  for (const auto& [task, t] : a.tasks) {
    double diff = (t - b.tasks.at(task)).abs().max().item<double>();
    worst = std::max(worst, diff / std::max(1.0, t.abs().max().item<double>()));
  }
  return worst;
}

}  // namespace

TEST(ArchitectureContract, EveryArchitectureBuildsAndDeclaresDisjointGroupsCoveringItsParameters) {
  std::vector<Built> built = build_every_accepted_architecture();
  std::set<std::string> names;
  for (const auto& b : built) names.insert(b.spec.architecture);
  EXPECT_EQ(names.size(), models::architecture_names().size()) << "an architecture accepts no candidate task set";
  for (auto& b : built) {
    SCOPED_TRACE(b.what);
    models::ArchitectureImpl& m = *b.model;
    auto parts = m.parameter_parts();  // throws when a parameter is undeclared or declared twice
    EXPECT_EQ(parts.size(), m.parameters().size());
    models::ParameterCount c = models::count_parameters(m);
    std::int64_t total = 0, in_groups = 0;
    for (const auto& p : m.parameters()) total += p.numel();
    for (const auto& [g, n] : c.groups) in_groups += n;
    EXPECT_EQ(c.total, total);
    EXPECT_EQ(in_groups, total);
    EXPECT_EQ(c.backbones * c.backbone + c.heads + c.other, total);  // backbone: one of its `backbones` copies
    EXPECT_FALSE(m.backbones().empty());
    // The balancer's sets: shared and each task's own parameters partition the parameters.
    std::set<const void*> seen = identities(m.shared_parameters());
    std::size_t count = seen.size();
    std::vector<std::string> all = b.spec.tasks;
    all.insert(all.end(), b.spec.aux_tasks.begin(), b.spec.aux_tasks.end());
    for (const auto& t : tasks::canonical(all)) {
      auto own = identities(m.task_parameters(t));
      count += own.size();
      seen.insert(own.begin(), own.end());
    }
    EXPECT_EQ(count, seen.size()) << "a parameter is both shared and a task's own, or two tasks' own";
    EXPECT_EQ(seen.size(), m.parameters().size()) << "a parameter is neither shared nor any task's own";
  }
}

TEST(ArchitectureContract, EveryArchitecturePredictsEveryTaskAndGivesRepresentationLeaves) {
  std::size_t separable = 0;  // architectures whose representation leaves were checked
  for (auto& b : build_every_accepted_architecture()) {
    SCOPED_TRACE(b.what);
    models::ArchitectureImpl& m = *b.model;
    m.train();
    m.set_representation_gradients(m.separable_representation());
    models::ModelOutput out = m.forward(torch::randn({2, 3, 32, 40}));
    for (const auto& t : b.spec.tasks) {
      ASSERT_TRUE(out.tasks.count(t)) << t;
      EXPECT_EQ(out.tasks.at(t).sizes(), (std::vector<std::int64_t>{2, b.spec.outputs.at(t), 32, 40})) << t;
    }
    // Deep supervision is supervised by a task of the model: an auxiliary one, or a main one
    // (decoder-focused models' initial predictions of their main tasks).
    std::vector<std::string> supervised = b.spec.tasks;
    supervised.insert(supervised.end(), b.spec.aux_tasks.begin(), b.spec.aux_tasks.end());
    for (const auto& a : out.aux) EXPECT_TRUE(std::find(supervised.begin(), supervised.end(), a.task) != supervised.end()) << a.name;
    if (m.separable_representation()) {
      ASSERT_TRUE(out.representation.is_shared());
      for (const auto& t : b.spec.tasks) {
        ASSERT_TRUE(out.representation.leaves.count(t)) << t;
        for (const auto& leaf : out.representation.leaves.at(t)) EXPECT_TRUE(leaf.is_leaf() && leaf.requires_grad());
      }
      ++separable;
    }
  }
  EXPECT_GT(separable, 0u) << "no architecture with a separable representation was checked";
}

TEST(ArchitectureContract, EveryArchitectureFoldsItsBatchNormsWithoutChangingItsOutputs) {
  for (auto& b : build_every_accepted_architecture()) {
    SCOPED_TRACE(b.what);
    models::ArchitectureImpl& m = *b.model;
    torch::manual_seed(2);
    perturb_batch_norms(m);
    m.eval();
    torch::NoGradGuard g;
    torch::Tensor x = torch::randn({1, 3, 32, 40});
    models::ModelOutput before = m.forward(x);
    models::FoldReport r = models::prepare_for_inference(m);
    EXPECT_GT(r.folded, 0);
    EXPECT_TRUE(r.unfolded.empty()) << "batch norms not declared after their convolution: " << join(r.unfolded, ", ");
    EXPECT_LT(max_relative_difference(before, m.forward(x)), 1e-4);
  }
}

TEST(ArchitectureContract, EveryArchitectureSurvivesSaveAndLoad) {
  test::TempDir dir;
  for (auto& b : build_every_accepted_architecture()) {
    SCOPED_TRACE(b.what);
    perturb_batch_norms(*b.model);
    fs::path file = dir.path() / "weights.pt";
    train::save_weights(*b.model, file);
    // A full disk is a one-line error (LibTorch's own file writer aborts the process).
    test::expect_error([&] { train::save_weights(*b.model, "/dev/full"); }, {"/dev/full", "write error"});
    torch::manual_seed(99);  // another initialisation
    models::Architecture fresh = models::make_architecture(b.spec);
    train::load_weights(*fresh, file);
    b.model->eval();
    fresh->eval();
    torch::NoGradGuard g;
    torch::Tensor x = torch::randn({1, 3, 32, 40});
    EXPECT_EQ(max_relative_difference(b.model->forward(x), fresh->forward(x)), 0.0);
  }
}

namespace {

// A tiny multi-task problem every balancer trains on: a baseline model at 1/16 width on three
// tasks whose canonical order differs from the alphabetical one.
struct Tiny {
  std::vector<std::string> tasks = {"semseg", "normals", "depth"};
  tasks::TaskSet task_set{tasks, nullptr};
  models::ModelSpec spec = spec_for("baseline", "resnet18", tasks, {}, 0.0625);
  torch::Tensor image;
  std::map<std::string, torch::Tensor> labels;
  Tiny() {
    torch::manual_seed(11);
    image = torch::randn({2, 3, 24, 24});
    labels["semseg"] = torch::randint(0, 5, {2, 1, 24, 24}).to(torch::kFloat32);
    torch::Tensor n = torch::randn({2, 3, 24, 24});
    labels["normals"] = n / n.norm(2, 1, true);
    labels["depth"] = torch::rand({2, 1, 24, 24}) * 4 + 0.5;
  }
  train::StepSetup step() const {
    train::StepSetup s;
    s.tasks = &task_set;
    s.main = tasks;
    s.validation_batch = [this] { return std::make_pair(image.flip({3}), labels); };
    return s;
  }
};

struct Trainee {
  models::Architecture model;
  std::unique_ptr<balancing::Balancer> balancer;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
};

Trainee make_trainee(const Tiny& tiny, const std::string& balancer, const std::vector<std::string>& options) {
  Trainee t;
  torch::manual_seed(5);
  t.model = models::make_architecture(tiny.spec);
  t.balancer = test::make_balancer_with(balancer, tiny.tasks, options);
  t.balancer->check(*t.model);
  t.balancer->to(torch::Device(torch::kCPU));
  std::vector<torch::Tensor> params = t.model->parameters();
  for (auto& p : t.balancer->parameters()) params.push_back(p);
  t.optimizer = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(1e-3));
  return t;
}

}  // namespace

TEST(ArchitectureContract, RegularizersJoinTheObjectiveOutsideBalancing) {
  // DSelect-k on three experts (not a power of 2: both of its regularisers), entropy weight 0.5.
  Tiny tiny;
  models::ModelSpec s = spec_for("dselect_k", "resnet18", tiny.tasks, {}, 0.0625);
  s.config = std::make_shared<const config::Config>(config::Config::parse(
      experiment_schema(),
      "data: {dataset: synthetic, root: none}\ntasks: {main: [semseg, normals, depth]}\nmodel:\n  architecture: dselect_k\n  head: deeplab\n"
      "  dselect_k: {shared_experts: 3, selectors: 2, experts_from: 4, entropy_weight: 0.5}\n"
      "backbone: {name: resnet18}\noptimizer: {name: sgd, lr: 0.01}\ntrain: {epochs: 1}\n",
      "test.yaml"));
  auto make = [&] {
    torch::manual_seed(5);
    return models::make_architecture(s);
  };
  // The expected gradient: the fixed weights' sum of the task losses plus the regularisers.
  models::Architecture reference = make();
  reference->train();
  train::Forward f = train::forward_losses(*reference, tiny.image, tiny.labels, tiny.step());
  std::set<std::string> names;
  for (const auto& [name, value] : f.out.regularizers) names.insert(name);
  EXPECT_EQ(names, (std::set<std::string>{"dselect_entropy.semseg", "dselect_entropy.normals", "dselect_entropy.depth",
                                          "dselect_valid_codes.semseg", "dselect_valid_codes.normals", "dselect_valid_codes.depth"}));
  torch::Tensor objective = f.losses.weighted_sum(std::vector<double>{1.0, 1.0, 1.0});
  for (const auto& [name, value] : f.out.regularizers) objective = objective + value;
  objective.backward();
  // One SGD step at rate 1 through train_step moves every parameter by minus that gradient.
  models::Architecture model = make();
  auto balancer = test::make_balancer_with("fixed", tiny.tasks, {});
  torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(1.0));
  auto before = model->named_parameters();
  std::map<std::string, torch::Tensor> start;
  for (const auto& p : before) start[p.key()] = p.value().detach().clone();
  model->train();
  train::train_step(*model, *balancer, sgd, tiny.image, tiny.labels, tiny.step());
  auto expected = reference->named_parameters();
  std::size_t gates = 0, compared = 0;
  for (const auto& p : model->named_parameters()) {
    torch::Tensor g = expected[p.key()].grad();
    torch::Tensor moved = start[p.key()] - p.value().detach();
    if (!g.defined()) continue;
    EXPECT_TRUE(torch::allclose(moved, g, 1e-4, 1e-6)) << p.key();
    ++compared;
    if (p.key().find(".gates.") != std::string::npos) ++gates;
  }
  EXPECT_EQ(gates, 12u);  // z and alpha, weight and bias, of three tasks
  EXPECT_GT(compared, gates) << "no parameter outside the gates (experts, heads) was compared";
  // In evaluation there are none.
  model->eval();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(model->forward(tiny.image).regularizers.empty());
}

TEST(BalancerContract, EveryBalancerTrainsWithoutNonFiniteValuesAndKeepsItsStateOnTheModelsDevice) {
  Tiny tiny;
  for (const auto& name : balancing::balancer_names())
  for (const auto& options : test::balancer_variants(name)) {
    SCOPED_TRACE(name + " " + join(options, " "));
    Trainee t = make_trainee(tiny, name, options);
    for (const auto& p : t.balancer->parameters()) EXPECT_EQ(p.device(), t.model->parameters().front().device());
    for (int step = 0; step < 2; ++step) {
      auto values = train::train_step(*t.model, *t.balancer, *t.optimizer, tiny.image, tiny.labels, tiny.step(), 0, step);
      for (double v : values.per_term) EXPECT_TRUE(std::isfinite(v));
    }
    for (const auto& p : t.model->parameters()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
    for (const auto& [task, w] : t.balancer->weights()) EXPECT_TRUE(std::isfinite(w)) << task;
    t.balancer->end_epoch({{"semseg", 1.0}, {"normals", 0.5}, {"depth", 0.25}});
  }
}

TEST(BalancerContract, EveryBalancerResumesToBitIdenticalWeights) {
  Tiny tiny;
  test::TempDir dir;
  const std::map<std::string, double> epoch_losses = {{"semseg", 1.0}, {"normals", 0.5}, {"depth", 0.25}};
  for (const auto& name : balancing::balancer_names())
  for (const auto& options : test::balancer_variants(name)) {
    SCOPED_TRACE(name + " " + join(options, " "));
    // Two steps, the end of an epoch, one more step, in one go...
    Trainee a = make_trainee(tiny, name, options);
    for (int step = 0; step < 2; ++step) train::train_step(*a.model, *a.balancer, *a.optimizer, tiny.image, tiny.labels, tiny.step(), 0, step);
    a.balancer->end_epoch(epoch_losses);
    train::train_step(*a.model, *a.balancer, *a.optimizer, tiny.image, tiny.labels, tiny.step(), 1, 2);
    // ...or the same two steps and end of epoch, a checkpoint (with the RNG), new objects built
    // from another RNG state, the checkpoint loaded, and the last step.
    Trainee b = make_trainee(tiny, name, options);
    for (int step = 0; step < 2; ++step) train::train_step(*b.model, *b.balancer, *b.optimizer, tiny.image, tiny.labels, tiny.step(), 0, step);
    b.balancer->end_epoch(epoch_losses);
    fs::path file = dir.path() / (name + ".pt");
    train::save_checkpoint(file, *b.model, *b.optimizer, *b.balancer, train::LoopState{});
    torch::manual_seed(123);
    Trainee c = make_trainee(tiny, name, options);
    torch::randn({17});
    train::load_checkpoint(file, *c.model, *c.optimizer, *c.balancer);
    train::train_step(*c.model, *c.balancer, *c.optimizer, tiny.image, tiny.labels, tiny.step(), 1, 2);
    auto pc = c.model->named_parameters();
    for (const auto& p : a.model->named_parameters()) EXPECT_TRUE(torch::equal(p.value(), pc[p.key()])) << p.key();
    auto bc = c.model->named_buffers();
    for (const auto& x : a.model->named_buffers()) EXPECT_TRUE(torch::equal(x.value(), bc[x.key()])) << x.key();
    auto sa = a.balancer->parameters(), sc = c.balancer->parameters();
    ASSERT_EQ(sa.size(), sc.size());
    for (std::size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(torch::equal(sa[i], sc[i]));
    EXPECT_EQ(a.balancer->weights(), c.balancer->weights());
  }
}

TEST(BalancerContract, EveryBalancerSkipsATaskNoImageOfTheBatchIsLabelledFor) {
  // Partially labelled data, exactly: a model on semseg, normals and depth whose batches carry no
  // depth label trains its shared part and the other heads as the same model without depth
  // trains on the same images, whatever the balancer; depth's head and balancer state stay put.
  Tiny tiny;
  std::map<std::string, torch::Tensor> unlabelled_depth = tiny.labels;
  unlabelled_depth["depth"] = torch::full_like(tiny.labels["depth"], tasks::Task::kIgnore);
  const std::vector<std::string> two = {"semseg", "normals"};
  tasks::TaskSet two_set{two, nullptr};
  std::map<std::string, torch::Tensor> two_labels = {{"semseg", tiny.labels["semseg"]}, {"normals", tiny.labels["normals"]}};
  const std::vector<std::map<std::string, double>> epoch_losses = {{{"semseg", 1.0}, {"normals", 0.5}}, {{"semseg", 0.9}, {"normals", 0.2}}};
  std::size_t weights_compared = 0;  // balancer weights compared, over every balancer
  for (const auto& name : balancing::balancer_names())
  for (const auto& options : test::balancer_variants(name)) {
    SCOPED_TRACE(name + " " + join(options, " "));
    Trainee a = make_trainee(tiny, name, options);
    train::StepSetup a_setup = tiny.step();
    a_setup.validation_batch = [&] { return std::make_pair(tiny.image.flip({3}), unlabelled_depth); };
    // The two-task model, from the three-task model's weights.
    Trainee b;
    b.model = models::make_architecture(spec_for("baseline", "resnet18", two, {}, 0.0625));
    {
      torch::NoGradGuard g;
      auto from = a.model->named_parameters();
      for (auto& p : b.model->named_parameters()) p.value().copy_(from[p.key()]);
      auto from_buffers = a.model->named_buffers();
      for (auto& x : b.model->named_buffers()) x.value().copy_(from_buffers[x.key()]);
    }
    b.balancer = test::make_balancer_with(name, two, options);
    std::vector<torch::Tensor> params = b.model->parameters();
    for (auto& p : b.balancer->parameters()) params.push_back(p);
    b.optimizer = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(1e-3));
    train::StepSetup b_setup;
    b_setup.tasks = &two_set;
    b_setup.main = two;
    b_setup.validation_batch = [&] { return std::make_pair(tiny.image.flip({3}), two_labels); };
    // The heads' dropout draws from the global generator, one head more in the three-task model:
    // off, so that methods that draw (random weights, drop masks) and methods that run the model
    // again (FAMO, Auto-Lambda) see the same random numbers in both.
    for (auto* m : {&a.model, &b.model})
      for (auto& module : (*m)->modules())
        if (auto* d = dynamic_cast<torch::nn::DropoutImpl*>(module.get())) d->options.p(0.0);
    std::map<std::string, torch::Tensor> depth_head;
    for (const auto& p : a.model->named_parameters())
      if (p.key().find("depth") != std::string::npos) depth_head[p.key()] = p.value().clone();
    ASSERT_FALSE(depth_head.empty());
    for (int step = 0; step < 4; ++step) {
      torch::manual_seed(100 + step);  // methods that draw (random weights, task orders, drop masks) draw alike
      auto va = train::train_step(*a.model, *a.balancer, *a.optimizer, tiny.image, unlabelled_depth, a_setup, step / 2, step, {"depth"});
      torch::manual_seed(100 + step);
      auto vb = train::train_step(*b.model, *b.balancer, *b.optimizer, tiny.image, two_labels, b_setup, step / 2, step);
      EXPECT_EQ(va.per_task.count("depth"), 0u);
      for (const auto& t : two) EXPECT_NEAR(va.per_task.at(t), vb.per_task.at(t), 1e-5 * std::fabs(vb.per_task.at(t))) << t << " step " << step;
      if (step < 2) {
        a.balancer->end_epoch(epoch_losses[static_cast<std::size_t>(step)]);
        b.balancer->end_epoch(epoch_losses[static_cast<std::size_t>(step)]);
      }
    }
    auto pa = a.model->named_parameters();
    for (const auto& p : b.model->named_parameters())
      EXPECT_TRUE(torch::allclose(p.value(), pa[p.key()], 1e-4, 1e-6)) << p.key() << " differs by "
          << (p.value() - pa[p.key()]).abs().max().item<double>();
    for (const auto& [key, before] : depth_head) EXPECT_TRUE(torch::equal(before, pa[key])) << key << " moved";
    auto wa = a.balancer->weights(), wb = b.balancer->weights();
    for (const auto& t : two) {
      EXPECT_EQ(wa.count(t), wb.count(t)) << t << ": a weight in one model only";
      if (wb.count(t)) {
        EXPECT_NEAR(wa.at(t), wb.at(t), 1e-4 * std::max(1.0, std::fabs(wb.at(t)))) << t;
        ++weights_compared;
      }
    }
  }
  EXPECT_GT(weights_compared, 0u) << "no balancer showed a weight to compare";
}

TEST(BalancerContract, ABatchLabelledForNoTaskChangesNothing) {
  Tiny tiny;
  std::map<std::string, torch::Tensor> none = tiny.labels;
  for (auto& [t, l] : none) l = torch::full_like(l, tasks::Task::kIgnore);
  for (const auto& name : balancing::balancer_names()) {
    SCOPED_TRACE(name);
    Trainee a = make_trainee(tiny, name, {});
    std::vector<torch::Tensor> before;
    for (const auto& p : a.model->parameters()) before.push_back(p.clone());
    train::train_step(*a.model, *a.balancer, *a.optimizer, tiny.image, none, tiny.step(), 0, 0, {"semseg", "normals", "depth"});
    auto after = a.model->parameters();
    for (std::size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(torch::equal(before[i], after[i]));
  }
}

TEST(BalancerContract, AnUnlabelledTasksHeadStaysPutDespiteTheOptimizersMomentum) {
  Tiny tiny;
  std::map<std::string, torch::Tensor> unlabelled_depth = tiny.labels;
  unlabelled_depth["depth"] = torch::full_like(tiny.labels["depth"], tasks::Task::kIgnore);
  for (const char* name : {"fixed", "mgda"}) {
    SCOPED_TRACE(name);
    Trainee a = make_trainee(tiny, name, {});
    train::train_step(*a.model, *a.balancer, *a.optimizer, tiny.image, tiny.labels, tiny.step(), 0, 0);  // Adam moments now
    std::map<std::string, torch::Tensor> before;
    for (const auto& p : a.model->named_parameters())
      if (p.key().find("depth") != std::string::npos) before[p.key()] = p.value().clone();
    ASSERT_FALSE(before.empty());
    train::train_step(*a.model, *a.balancer, *a.optimizer, tiny.image, unlabelled_depth, tiny.step(), 0, 1, {"depth"});
    auto now = a.model->named_parameters();
    for (const auto& [key, value] : before) EXPECT_TRUE(torch::equal(value, now[key])) << key << " moved";
  }
}

TEST(BalancerContract, CheckpointsWithOneStepCountLoadIntoPerTaskCounts) {
  // FAMO's Adam step count is kept per task since partially labelled data; a checkpoint written
  // before holds one count for all tasks, which loads into every task's.
  const std::vector<std::string> three = {"semseg", "normals", "depth"};
  auto b = test::make_balancer_with("famo", three);
  torch::serialize::OutputArchive old_state;
  for (const char* key : {"logits", "adam_m", "adam_v"}) old_state.write(key, torch::zeros({3}, torch::kFloat64), /*is_buffer=*/true);
  old_state.write("adam_steps", torch::tensor(7, torch::kLong), /*is_buffer=*/true);
  test::TempDir dir;
  old_state.save_to((dir.path() / "old.pt").string());
  torch::serialize::InputArchive in;
  in.load_from((dir.path() / "old.pt").string());
  b->load(in, "old.pt");
  torch::serialize::OutputArchive now;
  b->save(now);
  now.save_to((dir.path() / "now.pt").string());
  torch::serialize::InputArchive back;
  back.load_from((dir.path() / "now.pt").string());
  torch::Tensor steps;
  ASSERT_TRUE(back.try_read("adam_steps", steps));
  EXPECT_TRUE(torch::equal(steps, torch::full({3}, 7, torch::kLong)));
}

TEST(TaskContract, EveryTaskScoresItsConstantPredictionAndReportsItsDeltaMetric) {
  data::DatasetInfo info;
  info.class_names = {"a", "b", "c"};
  info.part_names = {"background", "head"};
  for (const auto& name : tasks::names()) {
    SCOPED_TRACE(name);
    const tasks::Task& task = tasks::get(name);
    cv::Mat label;
    switch (task.kind()) {
      case tasks::LabelKind::Classes: label = cv::Mat(6, 8, CV_32F, cv::Scalar(1)); break;
      case tasks::LabelKind::Binary: label = cv::Mat::zeros(6, 8, CV_32F); label.at<float>(2, 3) = 1; break;
      case tasks::LabelKind::Normals: label = cv::Mat(6, 8, CV_32FC3, cv::Scalar(0, 0, 1)); break;
      case tasks::LabelKind::Depth: label = cv::Mat(6, 8, CV_32F, cv::Scalar(2.5)); break;
    }
    EXPECT_EQ(label.channels(), task.label_channels());
    auto constant = task.constant_predictor();
    constant->observe(label);
    cv::Mat prediction = constant->predict(label.size());
    auto metric = task.make_metric({info, 1});
    metric->update(prediction, label);
    OrderedJson r = metric->result();
    EXPECT_TRUE(r.contains(task.delta_metric())) << r.dump();
    EXPECT_FALSE(task.report_columns().empty());
    for (const auto& c : task.report_columns()) EXPECT_TRUE(r.contains(c.metric)) << c.metric;
    // The stored format round-trips through a prediction file.
    test::TempDir dir;
    fs::path file = dir.path() / ("p" + task.prediction_extension());
    task.write_prediction(file, prediction);
    cv::Mat back = task.read_prediction(file);
    EXPECT_EQ(cv::norm(back, prediction, cv::NORM_INF), 0.0);
  }
}

}  // namespace densemtl
