// The small solvers of gradient balancing against closed forms, exhaustive search and their
// optimality conditions, degenerate Gram matrices included.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "densemtl/balancing/solvers.h"
#include "densemtl/core/error.h"

namespace densemtl::balancing::solvers {

namespace {

// The Gram matrix of n random vectors in d dimensions (rank min(n, d)).
Matrix random_gram(int n, int d, std::mt19937& rng) {
  std::normal_distribution<double> normal;
  std::vector<std::vector<double>> g(static_cast<std::size_t>(n), std::vector<double>(static_cast<std::size_t>(d)));
  for (auto& row : g)
    for (auto& x : row) x = normal(rng);
  Matrix m(n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) m(i, j) = dot(g[static_cast<std::size_t>(i)], g[static_cast<std::size_t>(j)]);
  return m;
}

Matrix gram_of(const std::vector<std::vector<double>>& g) {
  Matrix m(static_cast<int>(g.size()));
  for (int i = 0; i < m.n; ++i)
    for (int j = 0; j < m.n; ++j) m(i, j) = dot(g[static_cast<std::size_t>(i)], g[static_cast<std::size_t>(j)]);
  return m;
}

// KKT of min αᵀMα on the simplex: (Mα)_i >= αᵀMα for every i, with equality where α_i > 0.
void expect_min_norm_kkt(const Matrix& m, const Vector& alpha, double tol) {
  double s = 0;
  for (double a : alpha) {
    EXPECT_GE(a, -1e-12);
    s += a;
  }
  EXPECT_NEAR(s, 1.0, 1e-9);
  Vector ma = multiply(m, alpha);
  double value = dot(alpha, ma), scale = std::max(1.0, value);
  std::size_t support = 0;  // the α_i > 0 whose equality was checked
  for (std::size_t i = 0; i < alpha.size(); ++i) {
    EXPECT_GE(ma[i], value - tol * scale) << i;
    if (alpha[i] > 1e-6) {
      EXPECT_NEAR(ma[i], value, tol * scale) << i;
      ++support;
    }
  }
  EXPECT_GT(support, 0u) << "no α_i > 1e-6: the equality was checked nowhere";
}

}  // namespace

TEST(Solvers, MinNormPairIsTheClosedFormOfTwoVectors) {
  std::mt19937 rng(1);
  for (int trial = 0; trial < 200; ++trial) {
    Matrix m = random_gram(2, 3, rng);
    Pair p = min_norm_pair(m(0, 0), m(0, 1), m(1, 1));
    ASSERT_GE(p.gamma, 0.0);
    ASSERT_LE(p.gamma, 1.0);
    EXPECT_NEAR(quadratic(m, {p.gamma, 1 - p.gamma}), p.cost, 1e-9 * std::max(1.0, p.cost));
    // No γ on a fine grid does better.
    for (int k = 0; k <= 1000; ++k) {
      double g = k / 1000.0;
      EXPECT_GE(quadratic(m, {g, 1 - g}), p.cost - 1e-9 * std::max(1.0, p.cost));
    }
  }
}

TEST(Solvers, MinNormFrankWolfeReachesTheExactMinimumAndItsKkt) {
  std::mt19937 rng(2);
  std::size_t pair_checks = 0;  // closed-form checks of n = 2
  for (int n = 2; n <= 7; ++n)
    for (int trial = 0; trial < 30; ++trial) {
      Matrix m = random_gram(n, trial % 2 ? n + 3 : 2, rng);  // full rank and rank-deficient
      Vector exact = min_norm_exact(m);
      expect_min_norm_kkt(m, exact, 1e-8);
      // Frank–Wolfe converges sublinearly: within its duality gap, which shrinks with iterations.
      double e = quadratic(m, exact), scale = 0;
      for (int i = 0; i < n; ++i) scale = std::max(scale, m(i, i));
      double f_long = std::nan("");  // the value after 5000 iterations (NaN: never run, fails below)
      for (int iterations : {250, 5000}) {
        Vector fw = min_norm_frank_wolfe(m, iterations, 1e-12);
        double f = quadratic(m, fw);
        Vector mf = multiply(m, fw);
        double gap = 2 * (f - *std::min_element(mf.begin(), mf.end()));
        EXPECT_GE(f, e - 1e-9 * std::max(1.0, e));
        EXPECT_LE(f - e, gap + 1e-12);
        if (n == 2) {
          EXPECT_NEAR(f, e, 1e-12 * scale);  // the pair's closed form
          ++pair_checks;
        }
        if (iterations == 5000) f_long = f;
      }
      EXPECT_LE(f_long - e, 2e-3 * scale) << n << " " << trial;
    }
  EXPECT_EQ(pair_checks, 60u);  // n = 2: 30 trials at 250 and at 5000 iterations
}

TEST(Solvers, MinNormOfDegenerateGradients) {
  // Parallel: the shorter one alone.
  Vector a = min_norm_exact(gram_of({{1, 2}, {2, 4}}));
  EXPECT_NEAR(a[0], 1.0, 1e-12);
  Vector f = min_norm_frank_wolfe(gram_of({{1, 2}, {2, 4}}));
  EXPECT_NEAR(f[0], 1.0, 1e-12);
  // Opposite: their midpoint, the zero vector.
  Matrix opposite = gram_of({{1, -2}, {-1, 2}});
  Vector o = min_norm_frank_wolfe(opposite);
  EXPECT_NEAR(o[0], 0.5, 1e-12);
  EXPECT_NEAR(quadratic(opposite, o), 0.0, 1e-12);
  // A zero gradient: all weight on it.
  Matrix zero = gram_of({{1, 1, 0}, {0, 0, 0}, {0, 3, 1}});
  Vector z = min_norm_exact(zero);
  EXPECT_NEAR(z[1], 1.0, 1e-12);
  EXPECT_NEAR(quadratic(zero, min_norm_frank_wolfe(zero)), 0.0, 1e-9);
}

TEST(Solvers, SimplexProjectionAndProjectedGradientDescent) {
  std::mt19937 rng(3);
  std::normal_distribution<double> normal;
  for (int trial = 0; trial < 100; ++trial) {
    Vector x(5);
    for (auto& v : x) v = 2 * normal(rng);
    Vector p = project_to_simplex(x);
    double s = 0;
    for (double v : p) {
      EXPECT_GE(v, 0.0);
      s += v;
    }
    EXPECT_NEAR(s, 1.0, 1e-12);
    // The projection's KKT: x − p is the same constant on the support and no larger off it.
    double c = 0;
    for (std::size_t i = 0; i < p.size(); ++i)
      if (p[i] > 0) c = x[i] - p[i];
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (p[i] > 0) EXPECT_NEAR(x[i] - p[i], c, 1e-12);
      else EXPECT_LE(x[i], c + 1e-12);
    }
    // Minimising a convex quadratic on the simplex gives the min-norm point.
    Matrix m = random_gram(5, 7, rng);
    Vector best = minimise_on_simplex([&](const Vector& v) { return quadratic(m, v); },
                                      [&](const Vector& v) {
                                        Vector g = multiply(m, v);
                                        for (auto& e : g) e *= 2;
                                        return g;
                                      },
                                      Vector(5, 0.2));
    double exact = quadratic(m, min_norm_exact(m));
    EXPECT_NEAR(quadratic(m, best), exact, 1e-7 * std::max(1.0, exact));
  }
}

TEST(Solvers, BoxQuadraticProgramMeetsItsKkt) {
  std::mt19937 rng(4);
  for (int trial = 0; trial < 100; ++trial) {
    int n = 2 + trial % 5;
    Matrix m = random_gram(n, trial % 3 ? n + 2 : 1, rng);
    Vector lower(static_cast<std::size_t>(n), 0.0);
    lower[static_cast<std::size_t>(trial % n)] = 1.0;
    Vector v = box_qp(m, lower);
    Vector mv = multiply(m, v);
    double scale = std::max(1.0, m(trial % n, trial % n));
    for (int i = 0; i < n; ++i) {
      const auto ui = static_cast<std::size_t>(i);
      EXPECT_GE(v[ui], lower[ui] - 1e-12);
      if (v[ui] > lower[ui] + 1e-9) EXPECT_NEAR(mv[ui], 0.0, 1e-6 * scale) << trial;
      else EXPECT_GE(mv[ui], -1e-6 * scale) << trial;
    }
  }
}

TEST(Solvers, FairWeightsSolveTheBargainingSystem) {
  std::mt19937 rng(5);
  for (double a : {1.0, 2.0, 0.5}) {
    for (int trial = 0; trial < 40; ++trial) {
      int n = 2 + trial % 5;
      Matrix m = random_gram(n, n + 2, rng);
      Vector x = fair_weights(m, a, 0.0);
      Vector mx = multiply(m, x);
      for (std::size_t i = 0; i < x.size(); ++i) {
        EXPECT_GT(x[i], 0.0);
        double rhs = std::pow(x[i], -1.0 / a);
        EXPECT_NEAR(mx[i], rhs, 1e-7 * rhs) << "a " << a << " trial " << trial;
      }
    }
  }
  // Orthogonal gradients: α_t = 1/|g_t| (each task alone, M α = 1/α).
  Vector o = fair_weights(gram_of({{2, 0}, {0, 0.5}}), 1.0, 0.0);
  EXPECT_NEAR(o[0], 0.5, 1e-9);
  EXPECT_NEAR(o[1], 2.0, 1e-9);
  // Opposite gradients have no solution; the ridge keeps the weights finite and positive.
  Vector r = fair_weights(gram_of({{1, 0}, {-1, 0}}), 1.0, 1e-8);
  for (double v : r) EXPECT_TRUE(std::isfinite(v) && v > 0);
}

TEST(Solvers, LinearSystemsAndSymmetricEigenvectors) {
  std::mt19937 rng(6);
  std::normal_distribution<double> normal;
  for (int n = 1; n <= 8; ++n) {
    Matrix a(n);
    Vector b(static_cast<std::size_t>(n));
    for (auto& v : a.a) v = normal(rng);
    for (auto& v : b) v = normal(rng);
    Vector x = solve(a, b);
    Vector ax = multiply(a, x);
    for (int i = 0; i < n; ++i) EXPECT_NEAR(ax[static_cast<std::size_t>(i)], b[static_cast<std::size_t>(i)], 1e-9);
    Matrix m = random_gram(n, n > 2 ? n - 1 : n, rng);  // rank-deficient for n > 2
    Eigen e = symmetric_eigen(m);
    for (int k = 1; k < n; ++k) EXPECT_LE(e.values[static_cast<std::size_t>(k - 1)], e.values[static_cast<std::size_t>(k)]);  // ascending
    for (int k = 0; k < n; ++k) {
      Vector v(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = e.vectors(i, k);
      EXPECT_NEAR(dot(v, v), 1.0, 1e-10);
      Vector mv = multiply(m, v);
      for (int i = 0; i < n; ++i) EXPECT_NEAR(mv[static_cast<std::size_t>(i)], e.values[static_cast<std::size_t>(k)] * v[static_cast<std::size_t>(i)], 1e-8);
    }
  }
  Matrix singular(2);
  singular(0, 0) = singular(0, 1) = singular(1, 0) = singular(1, 1) = 1;
  EXPECT_THROW(solve(singular, {1, 2}), Error);
}

}  // namespace densemtl::balancing::solvers
