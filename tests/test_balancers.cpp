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
#include "balancer_util.h"
#include "test_util.h"

namespace densemtl::balancing {

namespace {

const std::vector<std::string> kNames = {"semseg", "normals", "edge", "depth"};

// θ is the only parameter, shared by all tasks; z = θ · 1 is the representation.
class LinearImpl : public models::ArchitectureImpl {
 public:
  LinearImpl(const models::ModelSpec& spec, std::int64_t d, double start) : ArchitectureImpl(spec) {
    holder_ = register_module("backbone", std::make_shared<torch::nn::Module>());
    theta = holder_->register_parameter("theta", torch::full({1, d}, start, torch::kFloat64));
    declare("backbone", holder_, models::Component::Backbone, models::ParameterGroup::shared());
  }
  models::ModelOutput forward(const torch::Tensor&) override {
    models::ModelOutput out;
    out.representation = share({theta * 1.0});  // 1 x D: one sample of D features
    return out;
  }
  torch::Tensor theta;

 private:
  std::shared_ptr<torch::nn::Module> holder_;
};

// A problem with task gradients `g` (rows) and loss values g_t·θ + c_t, θ (1 x D) starting at
// `start` (loss values c_t when 0).
struct Problem {
  std::vector<std::string> tasks;
  torch::Tensor g;  // T x D, float64
  std::vector<double> offsets;
  std::shared_ptr<LinearImpl> model;

  explicit Problem(const std::vector<std::vector<double>>& rows, std::vector<double> c = {}, double start = 0) : offsets(std::move(c)) {
    if (rows.size() > kNames.size()) throw std::logic_error("at most 4 tasks");
    tasks.assign(kNames.begin(), kNames.begin() + static_cast<std::ptrdiff_t>(rows.size()));
    std::vector<torch::Tensor> r;
    for (const auto& row : rows) r.push_back(torch::tensor(row, torch::kFloat64));
    g = torch::stack(r);
    if (offsets.empty()) offsets.assign(rows.size(), 1.0);
    models::ModelSpec spec;
    spec.architecture = "linear";
    spec.tasks = tasks;
    model = std::make_shared<LinearImpl>(spec, g.size(1), start);
  }

  // One backward of `b` (at epoch `epoch`); returns θ's gradient (the update direction).
  torch::Tensor step(Balancer& b, int epoch = 0) {
    model->zero_grad();
    model->train();
    model->set_representation_gradients(b.mode() == Mode::Representation);
    models::ModelOutput out = model->forward({});
    Losses l;
    for (std::size_t t = 0; t < tasks.size(); ++t) {
      const torch::Tensor& z = out.representation.for_task(tasks[t]).front();
      l.add_main(tasks[t], torch::dot(g[static_cast<std::int64_t>(t)], z.reshape({-1})) + offsets[t]);
    }
    Context ctx{*model, out, epoch, 0, nullptr};
    b.backward(l, ctx);
    return model->theta.grad().reshape({-1}).clone();
  }
};

std::unique_ptr<Balancer> make(const std::string& name, const std::vector<std::string>& tasks,
                               const std::vector<std::string>& overrides = {}) {
  return test::make_balancer_with(name, tasks, overrides);
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
  Problem p(std::vector<std::vector<double>>(3, std::vector<double>{1.0}));
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


TEST(NashMtl, WeightsSolveTheBargainingSystemAndTheUpdateIsClipped) {
  for (int trial = 0; trial < 10; ++trial) {
    Problem p(rows_of(random_gradients(2 + trial % 3, 6, 500 + trial)));
    auto b = make("nash_mtl", p.tasks, {"balancer.nash_mtl.max_norm=0"});
    torch::Tensor d = p.step(*b);
    // α_t g_t · Δθ = 1 for every task ((G Gᵀ) α = 1/α).
    for (std::size_t t = 0; t < p.tasks.size(); ++t)
      EXPECT_NEAR(b->weights().at(p.tasks[t]) * dotd(p.g[static_cast<std::int64_t>(t)], d), 1.0, 1e-6) << trial;
  }
  Problem p(rows_of(random_gradients(3, 6, 42) * 10));
  torch::Tensor clipped = p.step(*make("nash_mtl", p.tasks));
  EXPECT_LE(clipped.norm().item<double>(), 1.0 + 1e-6);
}

TEST(AlignedMtl, TheAlignedGradientsAreOrthogonalWithEqualNorms) {
  // The solver: B M B = λ_min on the range of M (condition number 1).
  for (int trial = 0; trial < 10; ++trial) {
    torch::Tensor g = random_gradients(2 + trial % 3, 8, 600 + trial);
    solvers::Matrix m = gram_matrix(g);
    solvers::Matrix b = solvers::align(m);
    torch::Tensor B = torch::from_blob(b.a.data(), {b.n, b.n}, torch::kFloat64).clone();
    torch::Tensor aligned = torch::matmul(B, g);
    torch::Tensor gram = torch::matmul(aligned, aligned.t());
    double lambda_min = solvers::symmetric_eigen(m).values.front();
    EXPECT_TRUE(torch::allclose(gram, lambda_min * torch::eye(b.n, torch::kFloat64), 1e-8, 1e-8 * lambda_min)) << trial;
  }
  // The method: orthogonal gradients of norms 1, 2, 4 each contribute a part of norm 1.
  for (const char* mode : {"params", "rep"}) {
    Problem p({{1.0, 0.0, 0.0}, {0.0, 2.0, 0.0}, {0.0, 0.0, 4.0}});
    torch::Tensor d = p.step(*make("aligned_mtl", p.tasks, {std::string("balancer.aligned_mtl.mode=") + mode}));
    EXPECT_TRUE(torch::allclose(d, torch::tensor({1.0, 1.0, 1.0}, torch::kFloat64), 1e-9, 1e-9)) << mode;
  }
}

TEST(UpGrad, TheUpdateConflictsWithNoTask) {
  for (int trial = 0; trial < 20; ++trial) {
    Problem p(rows_of(random_gradients(2 + trial % 3, 5, 700 + trial)));
    torch::Tensor d = p.step(*make("upgrad", p.tasks));
    double scale = p.g.norm().item<double>() * d.norm().item<double>();
    for (std::int64_t t = 0; t < p.g.size(0); ++t) EXPECT_GE(dotd(p.g[t], d), -2e-3 * scale) << trial;
  }
  // Without conflicts it is a positive combination with every weight at least 1/T.
  Problem agree({{1.0, 0.0}, {1.0, 1.0}});
  auto b = make("upgrad", agree.tasks);
  agree.step(*b);
  for (const auto& [t, w] : b->weights()) EXPECT_GE(w, 0.5 - 1e-9) << t;
}

TEST(FairGrad, WeightsSolveTheAlphaFairSystem) {
  for (double a : {1.0, 2.0}) {
    Problem p(rows_of(random_gradients(3, 6, 800)));
    auto b = make("fairgrad", p.tasks, {fmt::format("balancer.fairgrad.alpha={}", a)});
    torch::Tensor d = p.step(*b);
    // (G Gᵀ) w = w^(−1/a), i.e. g_t · d = w_t^(−1/a).
    for (std::size_t t = 0; t < p.tasks.size(); ++t) {
      double w = b->weights().at(p.tasks[t]);
      EXPECT_NEAR(dotd(p.g[static_cast<std::int64_t>(t)], d), std::pow(w, -1.0 / a), 1e-6 * std::pow(w, -1.0 / a)) << a;
    }
  }
}

TEST(DbMtl, EveryTaskContributesAtTheLargestGradientNorm) {
  std::vector<double> values = {0.5, 2.0};
  Problem p({{3.0, 0.0}, {0.0, 1.0}}, values);
  auto b = make("db_mtl", p.tasks);
  torch::Tensor d = p.step(*b);
  // Step 1: the averages are 0.1 ∇ log L_t = 0.1 g_t / L_t: (0.6, 0) and (0, 0.05); both scaled to 0.6.
  // (Up to the 1e-8 guards in log(L + 1e-8) and the norm ratio.)
  EXPECT_TRUE(torch::allclose(d, torch::tensor({0.6, 0.6}, torch::kFloat64), 1e-6, 1e-9));
  torch::Tensor d2 = p.step(*b);  // the same gradients again: the averages grow to 0.19 g/L
  EXPECT_NEAR(d2[0].item<double>(), d2[1].item<double>(), 1e-6);
  EXPECT_NEAR(d2[0].item<double>(), 0.19 * 6.0, 1e-6);
}

TEST(Rlw, WeightsAreRandomPointsOfTheSimplexAveragingOneOverT) {
  Problem p(std::vector<std::vector<double>>(3, std::vector<double>{1.0}));
  auto b = make("rlw", p.tasks);
  std::map<std::string, double> sum;
  std::map<std::string, double> previous;
  int changed = 0;
  for (int i = 0; i < 3000; ++i) {
    p.step(*b);
    double total = 0;
    for (const auto& [t, w] : b->weights()) {
      EXPECT_GT(w, 0.0);
      total += w;
      sum[t] += w;
    }
    EXPECT_NEAR(total, 1.0, 1e-12);
    if (b->weights() != previous) ++changed;
    previous = b->weights();
  }
  EXPECT_EQ(changed, 3000);
  for (const auto& [t, v] : sum) EXPECT_NEAR(v / 3000, 1.0 / 3, 0.02) << t;
}

TEST(Stch, WarmUpSumsLogLossesThenTheSmoothMaxFavoursTheWorstNormalisedTask) {
  std::vector<double> values = {0.5, 2.0};
  Problem p({{1.0, 0.0}, {0.0, 1.0}}, values);
  auto b = make("stch", p.tasks, {"balancer.stch.warmup_epochs=1", "balancer.stch.mu=0.1"});
  torch::Tensor warm = p.step(*b, 0);  // Σ log L: weights 1/L_t
  EXPECT_NEAR(warm[0].item<double>(), 2.0, 1e-9);
  EXPECT_NEAR(warm[1].item<double>(), 0.5, 1e-9);
  // The reference point is the last warm-up epoch's mean loss; a task whose loss then doubles
  // dominates: f = (log 2, 0), weights T softmax(f/μ)_t / L_t.
  p.offsets = {1.0, 2.0};
  torch::Tensor d = p.step(*b, 1);
  double e = std::exp(std::log(2.0) / 0.1), z = e + 1.0;
  EXPECT_NEAR(d[0].item<double>(), 2 * (e / z) / 1.0, 1e-9);
  EXPECT_NEAR(d[1].item<double>(), 2 * (1 / z) / 2.0, 1e-9);
}

TEST(ExcessMtl, WeightsFollowTheExponentiatedExcessRiskRatios) {
  Problem p({{1.0, 0.0}, {0.0, 2.0}});
  auto b = make("excess_mtl", p.tasks, {"balancer.excess_mtl.step_size=0.5"});
  p.step(*b);
  EXPECT_EQ(b->weights(), (std::map<std::string, double>{{"semseg", 1.0}, {"normals", 1.0}}));
  p.g[0] *= 3;  // task 0's gradient grows: its excess-risk ratio e/e⁰ rises
  torch::Tensor d = p.step(*b);
  // e⁰_t = g²/√(g² + 1e-7); e_t = g'²/√(g² + g'² + 1e-7)
  auto excess = [](double g0, double g1) { return (g1 * g1 / std::sqrt(g0 * g0 + g1 * g1 + 1e-7)) / (g0 * g0 / std::sqrt(g0 * g0 + 1e-7)); };
  double w0 = std::exp(0.5 * excess(1, 3)), w1 = std::exp(0.5 * excess(2, 2));
  double s = w0 + w1;
  EXPECT_NEAR(b->weights().at("semseg"), 2 * w0 / s, 1e-6);
  EXPECT_NEAR(b->weights().at("normals"), 2 * w1 / s, 1e-6);
  EXPECT_GT(b->weights().at("semseg"), 1.0);
  EXPECT_NEAR(d[0].item<double>(), 3 * b->weights().at("semseg"), 1e-6);
}

TEST(MoCo, TrackedWeightsMoveTowardsTheMinNormCombination) {
  // h_t = L_t g_t / |g_t|: norms 1 and 4 (losses 1 and 4), orthogonal. The min-norm combination
  // weighs the small one 16 times as much; MoCo's weights move that way from 1/2.
  Problem p({{1.0, 0.0}, {0.0, 1.0}}, {1.0, 4.0});
  auto b = make("moco", p.tasks, {"balancer.moco.beta_sigma=0", "balancer.moco.gamma_sigma=0", "balancer.moco.beta=0.5"});
  double previous = 0.5;
  for (int i = 0; i < 30; ++i) {
    p.step(*b);
    double w = b->weights().at("semseg");
    EXPECT_GE(w, previous - 1e-12);
    previous = w;
  }
  EXPECT_GT(previous, 0.65);
  EXPECT_NEAR(b->weights().at("semseg") + b->weights().at("normals"), 1.0, 1e-12);
}

TEST(GradVac, RaisesEachPairsSimilarityToItsTarget) {
  // First step, targets 0: a conflicting pair is projected as PCGrad does.
  Problem p({{1.0, 1.0}, {-1.0, 0.5}});
  auto b = make("gradvac", p.tasks, {"balancer.gradvac.beta=1"});
  torch::Tensor g1 = p.g[0], g2 = p.g[1];
  torch::Tensor p1 = g1 - dotd(g1, g2) / dotd(g2, g2) * g2, p2 = g2 - dotd(g2, g1) / dotd(g1, g1) * g1;
  EXPECT_TRUE(torch::allclose(p.step(*b), p1 + p2, 1e-7, 1e-9));  // up to the 1e-8 guard in its denominator
  // With β = 1 the targets became the last similarities; now similar gradients (cos 0.8) set the
  // target, and a later pair below it (cos 0.2) is raised to exactly 0.8.
  Problem q({{1.0, 0.0}, {0.8, 0.6}});
  auto v = make("gradvac", q.tasks, {"balancer.gradvac.beta=1"});
  q.step(*v);
  q.g[1] = torch::tensor({0.2, std::sqrt(1 - 0.04)}, torch::kFloat64);
  torch::Tensor d = q.step(*v);
  // d = a' + b' with a' = g1 adjusted towards g2 and b' = g2 adjusted towards g1; each has cos 0.8
  // with the other original gradient.
  torch::Tensor a = q.g[0], c = q.g[1];
  double phi = 0.2, target = 0.8;
  double wa = (target * std::sqrt(1 - phi * phi) - phi * std::sqrt(1 - target * target)) / std::sqrt(1 - target * target);
  torch::Tensor a2 = a + wa * c, c2 = c + wa * a;
  EXPECT_NEAR(dotd(a2, c) / (a2.norm().item<double>() * c.norm().item<double>()), 0.8, 1e-6);
  EXPECT_TRUE(torch::allclose(d, a2 + c2, 1e-6, 1e-9));
}

TEST(GradDrop, KeepsOneSignPerElement) {
  // θ = 1 (a positive representation); per element the kept gradients share one sign.
  Problem p({{1.0, -1.0, 2.0, 0.5}, {-3.0, -2.0, 1.0, 0.5}, {1.0, 2.0, -1.0, 0.0}}, {10.0, 10.0, 10.0}, 1.0);
  for (int trial = 0; trial < 50; ++trial) {
    torch::Tensor d = p.step(*make("graddrop", p.tasks));
    for (std::int64_t e = 0; e < 4; ++e) {
      double positive = 0, negative = 0;
      for (std::int64_t t = 0; t < 3; ++t) (p.g[t][e].item<double>() > 0 ? positive : negative) += p.g[t][e].item<double>();
      double v = d[e].item<double>();
      EXPECT_TRUE(std::fabs(v - positive) < 1e-12 || std::fabs(v - negative) < 1e-12) << e << " " << v;
    }
  }
  // Elements where all tasks agree keep everything; with leak 1 nothing is dropped.
  EXPECT_NEAR(p.step(*make("graddrop", p.tasks))[3].item<double>(), 1.0, 1e-12);
  EXPECT_TRUE(torch::allclose(p.step(*make("graddrop", p.tasks, {"balancer.graddrop.leak=1"})), p.g.sum(0), 1e-12, 1e-12));
}

TEST(Dtp, PrioritiesFavourTasksWithLowKpis) {
  Problem p(std::vector<std::vector<double>>(3, std::vector<double>{1.0}));
  auto b = make("dtp", p.tasks, {"balancer.dtp.smoothing=1"});
  EXPECT_EQ(b->weights().at("semseg"), 1.0);  // before any validation
  OrderedJson metrics;
  metrics["semseg"] = {{"mIoU", 80.0}};
  metrics["normals"] = {{"mean", 20.0}, {"11.25", 30.0}};
  metrics["edge"] = {{"odsF", 50.0}};
  b->after_validation(metrics);
  auto w = b->weights();
  EXPECT_NEAR(w.at("semseg"), -0.2 * std::log(0.8), 1e-12);
  EXPECT_NEAR(w.at("normals"), -0.7 * std::log(0.3), 1e-12);
  EXPECT_NEAR(w.at("edge"), -0.5 * std::log(0.5), 1e-12);
  EXPECT_GT(w.at("normals"), w.at("edge"));
  EXPECT_GT(w.at("edge"), w.at("semseg"));
}

TEST(GradNorm, DrivesTheWeightedGradientNormsToEqualTargets) {
  // Constant losses (training rates r = 1): the targets are the mean norm, so w_t |g_t| equalise.
  Problem p({{1.0, 0.0}, {0.0, 4.0}}, {1.0, 1.0});
  auto b = make("gradnorm", p.tasks);
  torch::optim::Adam opt(b->parameters(), torch::optim::AdamOptions(0.01));
  Context ctx{*p.model, models::ModelOutput{}, 0, 0, nullptr};
  for (int i = 0; i < 2000; ++i) {
    opt.zero_grad();
    p.step(*b);
    opt.step();
    b->finish_step(ctx);
  }
  auto w = b->weights();
  EXPECT_NEAR(w.at("semseg") + w.at("normals"), 2.0, 1e-6);
  EXPECT_NEAR(w.at("semseg") * 1.0, w.at("normals") * 4.0, 0.05);
}

TEST(Famo, WeightsMoveTowardsTheTaskWhoseLossDecreasesSlowest) {
  Problem p({{1.0}, {1.0}}, {1.0, 1.0});
  auto b = make("famo", p.tasks);
  for (int i = 0; i < 50; ++i) {
    p.step(*b);
    Context ctx{*p.model, models::ModelOutput{}, 0, i, [&] {
                  Losses after;  // task 0 fell by half, task 1 barely moved
                  after.add_main("semseg", torch::tensor(0.5, torch::kFloat64));
                  after.add_main("normals", torch::tensor(0.99, torch::kFloat64));
                  return after;
                }};
    b->finish_step(ctx);
  }
  p.step(*b);
  EXPECT_GT(b->weights().at("normals"), 0.6);
  EXPECT_NEAR(b->weights().at("semseg") + b->weights().at("normals"), 1.0, 1e-12);
}

TEST(AutoLambda, WeightsRiseForTasksWhoseStepLowersTheValidationLossAndFallForOthers) {
  // Train losses L_t = ½|θ − a_t|², validation losses ½|θ − b|² for both (main) tasks, θ = 0.
  // Quadratics make the finite-difference Hessian-vector product exact, so the hypergradient is
  // −α ∇L_t(θ)·d with d = ∇L^val(θ') and θ' = θ − α Σ λ_t ∇L_t(θ) (= θ here: the pulls cancel).
  const double alpha = 0.1, lr = 1e-4;
  const torch::Tensor a0 = torch::tensor({1.0, 0.0}, torch::kFloat64), a1 = torch::tensor({-1.0, 0.0}, torch::kFloat64);
  const torch::Tensor b = torch::tensor({2.0, 0.0}, torch::kFloat64);
  Problem p({{0.0, 0.0}, {0.0, 0.0}});
  auto balancer = make("auto_lambda", p.tasks, {"balancer.auto_lambda.lr=0.0001"});
  auto losses_to = [&](const torch::Tensor& t0, const torch::Tensor& t1) {
    torch::Tensor theta = p.model->forward({}).representation.shared.front().reshape({-1});
    Losses l;
    l.add_main("semseg", 0.5 * (theta - t0).pow(2).sum());
    l.add_main("normals", 0.5 * (theta - t1).pow(2).sum());
    return l;
  };
  p.model->zero_grad();
  models::ModelOutput out;
  Losses train = losses_to(a0, a1);
  Context ctx{*p.model, out, 0, 0, [&] { return losses_to(a0, a1); }};
  ctx.validation_losses = [&] { return losses_to(b, b); };
  ctx.learning_rate = alpha;
  balancer->backward(train, ctx);
  // d = 2 (θ' − b) = (−4, 0); hypergradients −α(θ − a_t)·d = −0.4 and +0.4: Adam's first step moves
  // each weight by lr against the sign.
  EXPECT_NEAR(balancer->weights().at("semseg"), 0.1 + lr, 1e-10);
  EXPECT_NEAR(balancer->weights().at("normals"), 0.1 - lr, 1e-10);
  // θ is back where it was, and its gradient is that of Σ λ_t L_t with the new weights.
  EXPECT_TRUE(torch::equal(p.model->theta, torch::zeros({1, 2}, torch::kFloat64)));
  torch::Tensor expected = -(0.1 + lr) * a0 - (0.1 - lr) * a1;
  EXPECT_TRUE(torch::allclose(p.model->theta.grad().reshape({-1}), expected, 0, 1e-10));
}

}  // namespace densemtl::balancing
