// torch
// Each balancing method against a property its paper states, on problems whose per-task
// gradients are set by hand: L_t = g_t · z + c_t with z = θ (the shared parameters, or the shared
// representation the heads read), so that ∂L_t/∂θ = g_t exactly.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

#include "densemtl/balancing/balancer.h"
#include "densemtl/models/architectures/architecture.h"
#include "densemtl/train/experiment.h"
#include "test_util.h"

namespace densemtl::balancing {

namespace {

const std::vector<std::string> kNames = {"semseg", "normals", "edge", "depth"};

// θ is the only parameter, shared by all tasks; z = θ · 1 is the representation.
class LinearImpl : public models::ArchitectureImpl {
 public:
  LinearImpl(const models::ModelSpec& spec, std::int64_t d) : ArchitectureImpl(spec) {
    holder_ = register_module("backbone", std::make_shared<torch::nn::Module>());
    theta = holder_->register_parameter("theta", torch::zeros({d}, torch::kFloat64));
    declare("backbone", holder_, models::Component::Backbone, models::ParameterGroup::shared());
  }
  models::ModelOutput forward(const torch::Tensor&) override {
    models::ModelOutput out;
    out.representation = share({theta * 1.0});
    return out;
  }
  torch::Tensor theta;

 private:
  std::shared_ptr<torch::nn::Module> holder_;
};

// A problem with task gradients `g` (rows) and loss values g_t·θ + c_t at θ = 0 (c_t > 0).
struct Problem {
  std::vector<std::string> tasks;
  torch::Tensor g;  // T x D, float64
  std::vector<double> offsets;
  std::shared_ptr<LinearImpl> model;

  Problem(const std::vector<std::vector<double>>& rows, std::vector<double> c = {}) : offsets(std::move(c)) {
    tasks.assign(kNames.begin(), kNames.begin() + static_cast<std::ptrdiff_t>(rows.size()));
    std::vector<torch::Tensor> r;
    for (const auto& row : rows) r.push_back(torch::tensor(row, torch::kFloat64));
    g = torch::stack(r);
    if (offsets.empty()) offsets.assign(rows.size(), 1.0);
    models::ModelSpec spec;
    spec.architecture = "linear";
    spec.tasks = tasks;
    model = std::make_shared<LinearImpl>(spec, g.size(1));
  }

  // One backward of `b`; returns θ's gradient (the update direction).
  torch::Tensor step(Balancer& b) {
    model->zero_grad();
    model->train();
    model->set_representation_gradients(b.mode() == Mode::Representation);
    models::ModelOutput out = model->forward({});
    Losses l;
    for (std::size_t t = 0; t < tasks.size(); ++t) {
      const torch::Tensor& z = out.representation.for_task(tasks[t]).front();
      l.add_main(tasks[t], torch::dot(g[static_cast<std::int64_t>(t)], z) + offsets[t]);
    }
    Context ctx{*model, out, 0, 0, nullptr};
    b.backward(l, ctx);
    return model->theta.grad().clone();
  }
};

// A balancer with options set by `overrides` ("balancer.<name>.<key>=value").
std::unique_ptr<Balancer> make(const std::string& name, const std::vector<std::string>& tasks,
                               const std::vector<std::string>& overrides = {}) {
  static std::vector<std::shared_ptr<config::Config>> keep;  // the views point into these
  std::vector<std::string> all = {"balancer.name=" + name};
  all.insert(all.end(), overrides.begin(), overrides.end());
  auto cfg = std::make_shared<config::Config>(config::Config::parse(
      experiment_schema(),
      "data: {dataset: synthetic, root: x}\ntasks: {main: [semseg]}\nmodel: {architecture: baseline, head: deeplab}\n"
      "backbone: {name: resnet18}\noptimizer: {name: adam, lr: 0.001}\ntrain: {epochs: 1}\n",
      "test", all));
  keep.push_back(cfg);
  Setup s;
  s.tasks = tasks;
  std::string section = "balancer." + name;
  if (cfg->has(section)) s.options = config::View(*cfg, section);
  return make_balancer(name, s);
}

double dotd(const torch::Tensor& a, const torch::Tensor& b) { return torch::dot(a, b).item<double>(); }

torch::Tensor random_gradients(int t, int d, std::uint64_t seed) {
  torch::manual_seed(static_cast<std::int64_t>(seed));
  return torch::randn({t, d}, torch::kFloat64);
}

std::vector<std::vector<double>> rows_of(const torch::Tensor& g) {
  std::vector<std::vector<double>> out;
  for (std::int64_t i = 0; i < g.size(0); ++i) {
    torch::Tensor r = g[i].contiguous();
    out.emplace_back(r.data_ptr<double>(), r.data_ptr<double>() + r.numel());
  }
  return out;
}

}  // namespace

TEST(Mgda, TheDirectionIsTheMinNormPointAndHelpsEveryTask) {
  for (const char* mode : {"params", "rep"})
    for (int trial = 0; trial < 20; ++trial) {
      int t = 2 + trial % 3;
      Problem p(rows_of(random_gradients(t, 6, 100 + trial)));
      auto b = make("mgda", p.tasks, {std::string("balancer.mgda.mode=") + mode, "balancer.mgda.solver=exact"});
      torch::Tensor d = p.step(*b);
      // The min-norm point d of the convex hull: d · g_t >= |d|² >= 0 for every task.
      for (int i = 0; i < t; ++i) EXPECT_GE(dotd(d, p.g[i]), dotd(d, d) - 1e-9) << mode << " " << trial;
    }
  // Two tasks: the closed form γ = (g2 − g1)·g2 / |g1 − g2|² (clamped) of the paper's Algorithm 1.
  Problem two({{1.0, 0.0}, {0.2, 1.0}});
  torch::Tensor d = two.step(*make("mgda", two.tasks));
  torch::Tensor g1 = two.g[0], g2 = two.g[1];
  double gamma = std::clamp(dotd(g2 - g1, g2) / dotd(g1 - g2, g1 - g2), 0.0, 1.0);
  EXPECT_TRUE(torch::allclose(d, gamma * g1 + (1 - gamma) * g2, 1e-9, 1e-12));
  // Frank–Wolfe (the default) on three tasks: close to the exact point.
  Problem three(rows_of(random_gradients(3, 5, 7)));
  torch::Tensor fw = three.step(*make("mgda", three.tasks));
  torch::Tensor exact = three.step(*make("mgda", three.tasks, {"balancer.mgda.solver=exact"}));
  EXPECT_NEAR(dotd(fw, fw), dotd(exact, exact), 1e-3 * dotd(exact, exact) + 1e-9);
}

TEST(PcGrad, NoProjectedGradientConflictsWithTheGradientItWasProjectedAgainst) {
  Problem p({{1.0, 1.0}, {-1.0, 0.5}});  // conflicting: g1 · g2 = −0.5
  torch::Tensor d = p.step(*make("pcgrad", p.tasks));
  torch::Tensor g1 = p.g[0], g2 = p.g[1];
  torch::Tensor p1 = g1 - dotd(g1, g2) / dotd(g2, g2) * g2, p2 = g2 - dotd(g2, g1) / dotd(g1, g1) * g1;
  EXPECT_NEAR(dotd(p1, g2), 0.0, 1e-12);
  EXPECT_NEAR(dotd(p2, g1), 0.0, 1e-12);
  EXPECT_TRUE(torch::allclose(d, p1 + p2, 1e-9, 1e-12));
  // Without conflicts nothing changes.
  Problem agree({{1.0, 0.0}, {1.0, 1.0}, {0.0, 2.0}});
  EXPECT_TRUE(torch::allclose(agree.step(*make("pcgrad", agree.tasks)), agree.g.sum(0), 1e-12, 1e-12));
  // Many tasks: every projected gradient ends without conflict against the last task it met.
  for (int trial = 0; trial < 10; ++trial) {
    Problem q(rows_of(random_gradients(4, 8, 200 + trial)));
    torch::Tensor dir = q.step(*make("pcgrad", q.tasks));
    EXPECT_TRUE(torch::isfinite(dir).all().item<bool>());
  }
}

TEST(CaGrad, WithCZeroItIsTheMeanGradientAndOtherwiseSolvesItsDual) {
  Problem p(rows_of(random_gradients(3, 5, 300)));
  EXPECT_TRUE(torch::allclose(p.step(*make("cagrad", p.tasks, {"balancer.cagrad.c=0"})), p.g.mean(0), 1e-9, 1e-12));
  // c = 0.5: d/(1+c²) = g0 + c|g0|/|g_w| g_w, with w minimising wᵀ(G g0) + c|g0||g_w| on the simplex
  // (checked against a grid), and the paper's guarantee min_t g_t·d >= ... holds loosely: d
  // improves the worst task at least as much as the mean gradient does.
  auto b = make("cagrad", p.tasks);
  torch::Tensor d = p.step(*b) * 1.25;
  torch::Tensor g0 = p.g.mean(0);
  double c = 0.5, best = 1e300;
  torch::Tensor best_w;
  for (int i = 0; i <= 200; ++i)
    for (int j = 0; i + j <= 200; ++j) {
      torch::Tensor w = torch::tensor({i / 200.0, j / 200.0, (200 - i - j) / 200.0}, torch::kFloat64);
      torch::Tensor gw = torch::matmul(w, p.g);
      double f = dotd(gw, g0) + c * g0.norm().item<double>() * gw.norm().item<double>();
      if (f < best) best = f, best_w = gw;
    }
  torch::Tensor expected = g0 + c * g0.norm().item<double>() / best_w.norm().item<double>() * best_w;
  EXPECT_LT((d - expected).norm().item<double>(), 0.05 * expected.norm().item<double>());
  double worst_d = 1e300, worst_mean = 1e300;
  for (int t = 0; t < 3; ++t) {
    worst_d = std::min(worst_d, dotd(p.g[t], d) / d.norm().item<double>());
    worst_mean = std::min(worst_mean, dotd(p.g[t], g0) / g0.norm().item<double>());
  }
  EXPECT_GE(worst_d, worst_mean - 1e-9);
}

TEST(Imtl, TheCombinedGradientHasEqualProjectionsOnEveryUnitTaskGradient) {
  for (const char* name : {"imtl_g", "imtl"})
    for (const char* mode : {"params", "rep"})
      for (int trial = 0; trial < 10; ++trial) {
        int t = 2 + trial % 3;
        Problem p(rows_of(random_gradients(t, 7, 400 + trial)));
        torch::Tensor d = p.step(*make(name, p.tasks, {std::string("balancer.") + name + ".mode=" + mode}));
        double first = dotd(d, p.g[0]) / p.g[0].norm().item<double>();
        for (int i = 1; i < t; ++i) EXPECT_NEAR(dotd(d, p.g[i]) / p.g[i].norm().item<double>(), first, 1e-9 * std::max(1.0, std::fabs(first)));
      }
}

namespace {

// Runs a loss-level method on constant losses `values` for `steps` Adam steps of its own
// parameters; returns the final weights.
std::map<std::string, double> on_constant_losses(const std::string& name, const std::vector<double>& values, int steps,
                                                 double lr = 0.05) {
  Problem p(std::vector<std::vector<double>>(values.size(), std::vector<double>{0.0}), values);
  auto b = make(name, p.tasks);
  torch::optim::Adam opt(b->parameters(), torch::optim::AdamOptions(lr));
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    p.step(*b);
    opt.step();
  }
  p.step(*b);
  return b->weights();
}

}  // namespace

TEST(UncertaintyWeighting, WeightsConvergeToTheInverseLossScales) {
  // Minimising c e^{−s} L + s/2 gives c e^{−s} = 1/(2L) for either factor c.
  std::vector<double> losses = {0.5, 2.0, 4.0, 0.125};  // semseg, normals, edge, depth
  auto w = on_constant_losses("uw", losses, 3000);
  for (std::size_t t = 0; t < losses.size(); ++t) EXPECT_NEAR(w.at(kNames[t]), 1.0 / (2 * losses[t]), 2e-3 / losses[t]) << kNames[t];
  // The paper's factors: the classification tasks start at weight 1, the regression tasks at ½.
  Problem p({{0.0}, {0.0}, {0.0}, {0.0}});
  auto fresh = make("uw", p.tasks);
  p.step(*fresh);
  EXPECT_DOUBLE_EQ(fresh->weights().at("semseg"), 1.0);
  EXPECT_DOUBLE_EQ(fresh->weights().at("edge"), 1.0);
  EXPECT_DOUBLE_EQ(fresh->weights().at("normals"), 0.5);
  EXPECT_DOUBLE_EQ(fresh->weights().at("depth"), 0.5);
}

TEST(ImtlL, ScaledLossesConvergeToOne) {
  std::vector<double> losses = {0.5, 2.0, 4.0};
  auto w = on_constant_losses("imtl_l", losses, 3000);
  for (std::size_t t = 0; t < losses.size(); ++t) EXPECT_NEAR(w.at(kNames[t]) * losses[t], 1.0, 1e-3) << kNames[t];
}

TEST(Dwa, WeightsSumToTheTaskCountAndFavourTheSlowestTask) {
  Problem p({{1.0}, {1.0}, {1.0}});
  auto b = make("dwa", p.tasks);
  EXPECT_EQ(b->weights(), (std::map<std::string, double>{{"semseg", 1.0}, {"normals", 1.0}, {"edge", 1.0}}));
  b->end_epoch({{"semseg", 1.0}, {"normals", 1.0}, {"edge", 1.0}});
  EXPECT_EQ(b->weights().at("normals"), 1.0);  // still the first two epochs
  b->end_epoch({{"semseg", 0.5}, {"normals", 0.9}, {"edge", 1.0}});
  auto w = b->weights();
  double sum = 0;
  for (const auto& [t, v] : w) sum += v;
  EXPECT_NEAR(sum, 3.0, 1e-12);
  // λ_t = T exp(r_t/2) / Σ exp(r_i/2) with r = (0.5, 0.9, 1.0).
  double z = std::exp(0.25) + std::exp(0.45) + std::exp(0.5);
  EXPECT_NEAR(w.at("semseg"), 3 * std::exp(0.25) / z, 1e-12);
  EXPECT_NEAR(w.at("edge"), 3 * std::exp(0.5) / z, 1e-12);
  EXPECT_GT(w.at("edge"), w.at("normals"));
  EXPECT_GT(w.at("normals"), w.at("semseg"));
  // The update is Σ λ_t g_t.
  Problem q({{1.0, 0.0}, {0.0, 1.0}, {1.0, 1.0}});
  torch::Tensor d = q.step(*b);
  EXPECT_NEAR(d[0].item<double>(), w.at("semseg") + w.at("edge"), 1e-12);
}

TEST(Gls, EachTaskIsWeightedByTheGeometricMeanOverTTimesItsLoss) {
  std::vector<double> values = {0.5, 2.0, 8.0};
  Problem p({{1.0, 0.0, 0.0}, {0.0, 1.0, 0.0}, {0.0, 0.0, 1.0}}, values);
  auto b = make("gls", p.tasks);
  torch::Tensor d = p.step(*b);
  double gm = std::cbrt(0.5 * 2.0 * 8.0);
  for (int t = 0; t < 3; ++t) EXPECT_NEAR(d[t].item<double>(), gm / (3 * values[static_cast<std::size_t>(t)]), 1e-9);
}

}  // namespace densemtl::balancing
