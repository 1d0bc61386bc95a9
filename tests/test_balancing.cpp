// torch
// The balancer base class's gradient plumbing, on a model small enough to differentiate by hand:
// z = s·x (a shared 1x1 convolution), y_t = h_t·z (one 1x1 head per task), L_t = k_t·Σy_t.
// Then ∂L_t/∂s = k_t h_t Σx, ∂L_t/∂h_t = k_t s Σx, ∂L_t/∂z = k_t h_t (per element).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "densemtl/balancing/balancer.h"
#include "densemtl/models/architectures/architecture.h"
#include "test_util.h"

namespace densemtl::balancing {

namespace {

// Canonical order (semseg, normals, edge, depth) differs from the alphabetical one.
const std::vector<std::string> kTasks = {"semseg", "normals", "edge", "depth"};
const std::map<std::string, double> kH = {{"semseg", 0.5}, {"normals", -2.0}, {"edge", 3.0}, {"depth", 1.5}};
const std::map<std::string, double> kK = {{"semseg", 1.0}, {"normals", 0.25}, {"edge", 2.0}, {"depth", -0.5}};
constexpr double kS = 0.75;

class TinyImpl : public models::ArchitectureImpl {
 public:
  explicit TinyImpl(const models::ModelSpec& spec) : ArchitectureImpl(spec) {
    shared_ = register_module("backbone", models::conv(1, 1, 1));
    declare("backbone", shared_.ptr(), models::Component::Backbone, models::ParameterGroup::shared());
    heads_ = register_module("decoders", torch::nn::ModuleDict());
    torch::NoGradGuard g;
    shared_->weight.fill_(kS);
    for (const auto& t : spec.tasks) {
      models::Conv2d h = models::conv(1, 1, 1);
      h->weight.fill_(kH.at(t));
      heads_->update(std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>>{{t, h.ptr()}});
      declare("decoders." + t, h.ptr(), models::Component::Head, models::ParameterGroup::of_task(t));
      by_task_.emplace(t, h);
    }
  }
  models::ModelOutput forward(const torch::Tensor& x) override {
    models::ModelOutput out;
    out.representation = share({shared_(x)});
    for (const auto& t : spec_.tasks) out.tasks[t] = by_task_.at(t)(out.representation.for_task(t).front());
    return out;
  }
  models::Conv2d shared_{nullptr};
  torch::nn::ModuleDict heads_{nullptr};
  std::map<std::string, models::Conv2d> by_task_;
};

std::shared_ptr<TinyImpl> tiny() {
  models::ModelSpec spec;
  spec.architecture = "tiny";
  spec.tasks = kTasks;
  return std::make_shared<TinyImpl>(spec);
}

const torch::Tensor& input() {
  static const torch::Tensor x = torch::tensor({1.0f, 2.0f, -0.5f, 0.25f}).reshape({1, 1, 2, 2});
  return x;
}
const double kSumX = 2.75;

Losses losses_of(const models::ModelOutput& out) {
  Losses l;
  for (const auto& t : kTasks) l.add_main(t, out.tasks.at(t).sum() * kK.at(t));
  return l;
}

// A method for the test: records G, returns fixed weights or their combined direction.
class Probe : public Balancer {
 public:
  Probe(Mode mode, std::vector<double> alpha, bool as_direction)
      : Balancer(Setup{kTasks, {}, {}}), mode_(mode), alpha_(std::move(alpha)), as_direction_(as_direction) {}
  std::string name() const override { return "probe"; }
  Mode mode() const override { return mode_; }
  torch::Tensor G;

 protected:
  Combination combine(const torch::Tensor& g, const Losses&, Context&) override {
    G = g.clone();
    torch::Tensor a = torch::tensor(alpha_, g.options());
    return as_direction_ ? Combination::of_direction(torch::matmul(a, g)) : Combination::of_weights(a);
  }

 private:
  Mode mode_;
  std::vector<double> alpha_;
  bool as_direction_;
};

struct Grads {
  double shared;
  std::map<std::string, double> heads;
};

Grads run(Balancer& b) {
  auto m = tiny();
  m->train();
  m->set_representation_gradients(b.mode() == Mode::Representation);
  models::ModelOutput out = m->forward(input());
  Losses l = losses_of(out);
  Context ctx{*m, out, 0, 0, nullptr};
  b.backward(l, ctx);
  Grads g;
  g.shared = m->shared_->weight.grad().item<double>();
  for (const auto& t : kTasks) g.heads[t] = m->by_task_.at(t)->weight.grad().item<double>();
  return g;
}

const std::vector<double> kAlpha = {0.1, 0.2, 0.3, 0.4};

}  // namespace

TEST(BalancerPlumbing, LossesKeepTheCanonicalTaskOrder) {
  auto m = tiny();
  Losses l = losses_of(m->forward(input()));
  EXPECT_EQ(l.tasks(), kTasks);
  l.add_auxiliary("initial_sal", "sal", torch::zeros({}));
  EXPECT_EQ(l.tasks(), (std::vector<std::string>{"semseg", "sal", "normals", "edge", "depth"}));
  EXPECT_EQ(l.terms().back().name, "initial_sal");
  EXPECT_TRUE(l.terms().back().auxiliary);
  test::expect_error([&] { l.add_main("depth", torch::zeros({})); }, "depth");
}

TEST(BalancerPlumbing, BothGradientMatricesHaveTheTasksInCanonicalOrder) {
  Probe params(Mode::Parameters, kAlpha, false);
  run(params);
  ASSERT_EQ(params.G.sizes(), (std::vector<std::int64_t>{4, 1}));
  for (std::size_t t = 0; t < kTasks.size(); ++t)
    EXPECT_NEAR(params.G[static_cast<std::int64_t>(t)][0].item<double>(), kK.at(kTasks[t]) * kH.at(kTasks[t]) * kSumX, 1e-6) << kTasks[t];
  Probe rep(Mode::Representation, kAlpha, false);
  run(rep);
  ASSERT_EQ(rep.G.sizes(), (std::vector<std::int64_t>{4, 4}));  // one row per task, one column per element of z
  for (std::size_t t = 0; t < kTasks.size(); ++t)
    for (std::int64_t e = 0; e < 4; ++e)
      EXPECT_NEAR(rep.G[static_cast<std::int64_t>(t)][e].item<double>(), kK.at(kTasks[t]) * kH.at(kTasks[t]), 1e-6) << kTasks[t];
}

TEST(BalancerPlumbing, WeightWriteBackEqualsTheGradientOfTheWeightedSum) {
  // Autograd of Σ α_t L_t directly.
  auto m = tiny();
  models::ModelOutput out = m->forward(input());
  Losses l = losses_of(out);
  l.weighted_sum(kAlpha).backward();
  for (Mode mode : {Mode::Parameters, Mode::Representation}) {
    SCOPED_TRACE(mode_name(mode));
    Probe p(mode, kAlpha, false);
    Grads g = run(p);
    EXPECT_NEAR(g.shared, m->shared_->weight.grad().item<double>(), 1e-6);
    for (std::size_t t = 0; t < kTasks.size(); ++t) {
      EXPECT_NEAR(g.heads[kTasks[t]], m->by_task_.at(kTasks[t])->weight.grad().item<double>(), 1e-6) << kTasks[t];
      EXPECT_NEAR(g.heads[kTasks[t]], kAlpha[t] * kK.at(kTasks[t]) * kS * kSumX, 1e-6) << kTasks[t];
    }
  }
}

TEST(BalancerPlumbing, DirectionWriteBackThroughParametersAndThroughTheRepresentationAgree) {
  // The same combination Σ α_t g_t as a direction: on the shared parameters it is αᵀG_params, on
  // the representation αᵀG_rep backpropagated through the encoder; both give the shared
  // parameters the same gradient, and the heads their own unweighted task gradients.
  Probe params(Mode::Parameters, kAlpha, true);
  Grads a = run(params);
  Probe rep(Mode::Representation, kAlpha, true);
  Grads b = run(rep);
  double expected = 0;
  for (std::size_t t = 0; t < kTasks.size(); ++t) expected += kAlpha[t] * kK.at(kTasks[t]) * kH.at(kTasks[t]) * kSumX;
  EXPECT_NEAR(a.shared, expected, 1e-5);
  EXPECT_NEAR(b.shared, expected, 1e-5);
  for (const auto& t : kTasks) {
    EXPECT_NEAR(a.heads[t], kK.at(t) * kS * kSumX, 1e-6) << t;
    EXPECT_NEAR(b.heads[t], kK.at(t) * kS * kSumX, 1e-6) << t;
  }
}

TEST(BalancerPlumbing, RepresentationModeIsRefusedWhereTasksDoNotReadOneSharedRepresentation) {
  class Mixed : public TinyImpl {
   public:
    using TinyImpl::TinyImpl;
    bool separable_representation() const override { return false; }
  };
  models::ModelSpec spec;
  spec.architecture = "mixed";
  spec.tasks = kTasks;
  Mixed m(spec);
  Probe rep(Mode::Representation, kAlpha, true);
  test::expect_error([&] { rep.check(m); }, {"probe", "mixed", "rep"});
  Probe params(Mode::Parameters, kAlpha, true);
  EXPECT_NO_THROW(params.check(m));
}

TEST(BalancerPlumbing, FixedWeightsFollowTheConfigAndLeaveMissingTasksAtOne) {
  balancing::Setup s{kTasks, {{"edge", 10.0}, {"depth", 2.0}}, {}};
  auto fixed = make_balancer("fixed", s);
  EXPECT_EQ(fixed->mode(), Mode::Losses);
  EXPECT_EQ(fixed->weights(), (std::map<std::string, double>{{"semseg", 1.0}, {"normals", 1.0}, {"edge", 10.0}, {"depth", 2.0}}));
  auto m = tiny();
  models::ModelOutput out = m->forward(input());
  Context ctx{*m, out, 0, 0, nullptr};
  fixed->backward(losses_of(out), ctx);
  double expected = 0;
  for (const auto& t : kTasks) expected += (t == "edge" ? 10.0 : t == "depth" ? 2.0 : 1.0) * kK.at(t) * kH.at(t) * kSumX;
  EXPECT_NEAR(m->shared_->weight.grad().item<double>(), expected, 1e-5);
}

}  // namespace densemtl::balancing
