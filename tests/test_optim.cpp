// torch
// densemtl's multi-tensor Adam and SGD against LibTorch's, and the losses' freedom from host reads.
#include <gtest/gtest.h>

#include <ATen/record_function.h>
#include <torch/torch.h>

#include <atomic>
#include <sstream>

#include "densemtl/tasks/registry.h"
#include "densemtl/core/config.h"
#include "densemtl/train/multi_tensor_optim.h"
#include "densemtl/train/experiment.h"
#include "densemtl/train/optim.h"
#include "test_util.h"

namespace densemtl {

namespace {

std::vector<torch::Tensor> make_params() {
  torch::manual_seed(3);
  return {torch::randn({4, 3, 3, 3}).contiguous(at::MemoryFormat::ChannelsLast).requires_grad_(true),
          torch::randn({4}).requires_grad_(true), torch::randn({2, 5}).requires_grad_(true)};
}

std::vector<torch::Tensor> clones(const std::vector<torch::Tensor>& v) {
  std::vector<torch::Tensor> out;
  for (const auto& t : v) out.push_back(t.detach().clone().requires_grad_(true));
  return out;
}

// A loss in which the third tensor takes part only on even steps (it has no gradient otherwise).
void backward_step(const std::vector<torch::Tensor>& p, int step) {
  torch::Tensor loss = (p[0] * p[0]).sum() * 0.5 + torch::sin(p[1]).sum();
  if (step % 2 == 0) loss = loss + (p[2].exp()).sum();
  loss.backward();
}

}  // namespace

// Runs LibTorch's optimiser and ours side by side on equal copies of the parameters.
template <typename Reference, typename Ours, typename Options>
void expect_same_steps(const Options& options, const std::string& what) {
  auto a = make_params();
  auto b = clones(a);
  Reference reference(a, options);
  Ours ours(b, options);
  ours.force_multi_tensor(true);  // the GPU path, on the CPU
  for (int step = 0; step < 6; ++step) {
    reference.zero_grad();
    ours.zero_grad();
    backward_step(a, step);
    backward_step(b, step);
    reference.step();
    ours.step();
    for (std::size_t i = 0; i < a.size(); ++i)
      EXPECT_TRUE(torch::allclose(a[i], b[i], 0, 1e-7)) << what << ", step " << step << ", tensor " << i;
  }
  EXPECT_EQ(reference.state().size(), ours.state().size()) << what;
}

TEST(MultiTensorAdam, GivesLibTorchsAdamResultsStepByStep) {
  for (double wd : {0.0, 1e-2})
    expect_same_steps<torch::optim::Adam, train::MultiTensorAdam>(torch::optim::AdamOptions(0.05).weight_decay(wd),
                                                                  "weight decay " + std::to_string(wd));
}

TEST(MultiTensorSGD, GivesLibTorchsSgdResultsStepByStep) {
  using O = torch::optim::SGDOptions;
  expect_same_steps<torch::optim::SGD, train::MultiTensorSGD>(O(0.1), "plain");
  expect_same_steps<torch::optim::SGD, train::MultiTensorSGD>(O(0.1).weight_decay(1e-2), "weight decay");
  expect_same_steps<torch::optim::SGD, train::MultiTensorSGD>(O(0.1).momentum(0.9).weight_decay(1e-2), "momentum");
  expect_same_steps<torch::optim::SGD, train::MultiTensorSGD>(O(0.1).momentum(0.9).dampening(0.1), "dampening");
  expect_same_steps<torch::optim::SGD, train::MultiTensorSGD>(O(0.1).momentum(0.9).nesterov(true).weight_decay(1e-2), "nesterov");
}

TEST(MultiTensorAdam, ItsCheckpointLoadsIntoLibTorchsAdam) {
  auto a = make_params();
  train::MultiTensorAdam ours(a, torch::optim::AdamOptions(0.05));
  ours.force_multi_tensor(true);
  for (int step = 0; step < 3; ++step) {
    ours.zero_grad();
    backward_step(a, step);
    ours.step();
  }
  std::stringstream buffer;
  torch::serialize::OutputArchive out;
  ours.save(out);
  out.save_to(buffer);
  torch::serialize::InputArchive in;
  in.load_from(buffer);
  torch::optim::Adam reference(a, torch::optim::AdamOptions(0.05));
  reference.load(in);
  ASSERT_EQ(reference.state().size(), ours.state().size());
  for (const auto& [key, state] : ours.state()) {
    const auto& s = static_cast<const torch::optim::AdamParamState&>(*state);
    const auto& r = static_cast<const torch::optim::AdamParamState&>(*reference.state().at(key));
    EXPECT_EQ(s.step(), r.step());
    EXPECT_TRUE(torch::equal(s.exp_avg(), r.exp_avg()));
    EXPECT_TRUE(torch::equal(s.exp_avg_sq(), r.exp_avg_sq()));
  }
}

TEST(Optimizer, ParameterGroupsLearnAtTheirFactorOfTheScheduledRate) {
  using namespace config;
  const Spec schema = section("", "", {section("optimizer", "", {
                                           choice("name", "sgd", {"adam", "sgd"}, ""),
                                           real("lr", 0.1, 0.0, 10.0, ""),
                                           real("weight_decay", 0.0, 0.0, 1.0, ""),
                                           real("momentum", 0.0, 0.0, 1.0, ""),
                                           boolean("nesterov", false, ""),
                                       })});
  Config cfg = Config::parse(schema, "optimizer: {name: sgd, lr: 0.1}\n", "test.yaml");
  torch::Tensor a = torch::zeros({3}, torch::requires_grad()), b = torch::zeros({2}, torch::requires_grad());
  auto opt = train::make_optimizer(cfg, {{1.0, {a}}, {100.0, {b}}});
  ASSERT_EQ(opt->param_groups().size(), 2u);
  EXPECT_DOUBLE_EQ(opt->param_groups()[1].options().get_lr(), 10.0);
  // The schedule's rate scales every group by its factor (the reference's scheduler set them all
  // to the same rate, losing the factor).
  train::set_learning_rate(*opt, 0.01, {1.0, 100.0});
  (a.sum() + b.sum()).backward();
  opt->step();
  EXPECT_TRUE(torch::allclose(a, torch::full({3}, -0.01)));
  EXPECT_TRUE(torch::allclose(b, torch::full({2}, -1.0)));
  EXPECT_DOUBLE_EQ(train::learning_rate(*opt), 0.01);
  EXPECT_THROW(train::make_optimizer(cfg, {{100.0, {b}}}), Error);
}

TEST(Optimizer, TheStepScheduleHalvesTheRateEveryStepEpochsAsStepLR) {
  // torch.optim.lr_scheduler.StepLR(step_size=100, gamma=0.5), stepped once per epoch: the rate of
  // (0-based) epoch e is lr0 * 0.5^floor(e / 100).
  config::Config cfg = config::Config::parse(experiment_schema(),
                             "data: {dataset: synthetic, root: x}\ntasks: {main: [semseg]}\nmodel: {architecture: single_task, head: deeplab}\n"
                             "backbone: {name: resnet18}\noptimizer: {name: adam, lr: 1.0e-4}\n"
                             "scheduler: {name: step, step_epochs: 100, gamma: 0.5, per: epoch}\ntrain: {epochs: 200}\n",
                             "step.yaml");
  train::Schedule s = train::schedule_from_config(cfg);
  EXPECT_DOUBLE_EQ(s.rate(0, 200), 1e-4);
  EXPECT_DOUBLE_EQ(s.rate(99, 200), 1e-4);
  EXPECT_DOUBLE_EQ(s.rate(100, 200), 5e-5);
  EXPECT_DOUBLE_EQ(s.rate(199, 200), 5e-5);
  EXPECT_DOUBLE_EQ(s.rate(250, 300), 2.5e-5);
  // It decays per epoch only.
  test::expect_error([] {
    Experiment::from(config::Config::parse(experiment_schema(),
                                              "data: {dataset: synthetic, root: x}\ntasks: {main: [semseg]}\n"
                                              "model: {architecture: single_task, head: deeplab}\nbackbone: {name: resnet18}\n"
                                              "optimizer: {name: adam, lr: 1.0e-4}\nscheduler: {name: step, per: iteration}\ntrain: {epochs: 2}\n",
                                              "step.yaml"));
  }, {"step.yaml: scheduler.per", "per epoch"});
}

TEST(Losses, NoTaskLossReadsAValueBackToTheHost) {
  // A read-back (item(), a host copy) dispatches aten::_local_scalar_dense; on a GPU it would make
  // the CPU wait for the device in the middle of every training step.
  static std::atomic<int> reads{0};
  auto handle = at::addThreadLocalCallback(at::RecordFunctionCallback(
      [](const at::RecordFunction& fn) -> std::unique_ptr<at::ObserverContext> {
        if (std::string(fn.name()) == "aten::_local_scalar_dense") ++reads;
        return nullptr;
      }));
  torch::ones({1}).item<float>();
  ASSERT_EQ(reads.load(), 1) << "the counter does not see read-backs";
  torch::manual_seed(0);
  for (const auto& name : tasks::names()) {
    const tasks::Task& task = tasks::get(name);
    std::int64_t c = name == "semseg" || name == "human_parts" ? 5 : (name == "normals" ? 3 : 1);
    torch::Tensor out = torch::randn({2, c, 4, 4}, torch::requires_grad());
    torch::Tensor label = name == "semseg" || name == "human_parts" ? torch::randint(0, 5, {2, 1, 4, 4}).to(torch::kFloat32)
                                                                   : torch::rand({2, c, 4, 4});
    label.index_put_({0}, 255.0);  // the first image unlabelled
    reads = 0;
    torch::Tensor l = task.loss(out, label);
    l.backward();
    EXPECT_EQ(reads.load(), 0) << name;
  }
  at::removeCallback(handle);
}

TEST(Losses, AllIgnoredGivesAZeroThatBackpropagatesForEveryTask) {
  for (const auto& name : tasks::names()) {
    std::int64_t c = name == "semseg" || name == "human_parts" ? 5 : (name == "normals" ? 3 : 1);
    torch::Tensor out = torch::randn({1, c, 3, 3}, torch::requires_grad());
    torch::Tensor label = torch::full({1, name == "semseg" || name == "human_parts" ? 1 : c, 3, 3}, 255.0);
    torch::Tensor l = tasks::get(name).loss(out, label);
    EXPECT_EQ(l.item<double>(), 0.0) << name;
    l.backward();
    EXPECT_EQ(out.grad().abs().sum().item<double>(), 0.0) << name;
  }
}

}  // namespace densemtl
