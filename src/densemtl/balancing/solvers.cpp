#include "densemtl/balancing/solvers.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "densemtl/core/error.h"

namespace densemtl::balancing::solvers {

Vector multiply(const Matrix& m, const Vector& x) {
  Vector y(static_cast<std::size_t>(m.n), 0.0);
  for (int i = 0; i < m.n; ++i)
    for (int j = 0; j < m.n; ++j) y[static_cast<std::size_t>(i)] += m(i, j) * x[static_cast<std::size_t>(j)];
  return y;
}

double dot(const Vector& a, const Vector& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double quadratic(const Matrix& m, const Vector& x) { return dot(x, multiply(m, x)); }

Pair min_norm_pair(double v11, double v12, double v22) {
  // |γ g1 + (1 − γ) g2|² is minimal at γ = (v22 − v12) / (v11 + v22 − 2 v12), clamped to [0, 1].
  if (v12 >= v11) return {1.0, v11};
  if (v12 >= v22) return {0.0, v22};
  double gamma = (v22 - v12) / (v11 + v22 - 2 * v12);
  return {gamma, v22 + gamma * (v12 - v22)};
}

Vector min_norm_frank_wolfe(const Matrix& m, int max_iterations, double tolerance) {
  const int n = m.n;
  Vector alpha(static_cast<std::size_t>(n), 0.0);
  if (n == 1) {
    alpha[0] = 1;
    return alpha;
  }
  // The best pair.
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      Pair p = min_norm_pair(m(i, i), m(i, j), m(j, j));
      if (p.cost < best) {
        best = p.cost;
        std::fill(alpha.begin(), alpha.end(), 0.0);
        alpha[static_cast<std::size_t>(i)] = p.gamma;
        alpha[static_cast<std::size_t>(j)] = 1 - p.gamma;
      }
    }
  if (n == 2) return alpha;
  // Frank–Wolfe: towards the vertex with the smallest gradient, with the exact pair line search.
  for (int it = 0; it < max_iterations; ++it) {
    Vector ma = multiply(m, alpha);
    int t = static_cast<int>(std::min_element(ma.begin(), ma.end()) - ma.begin());
    Pair p = min_norm_pair(dot(alpha, ma), ma[static_cast<std::size_t>(t)], m(t, t));
    Vector next = alpha;
    for (auto& x : next) x *= p.gamma;
    next[static_cast<std::size_t>(t)] += 1 - p.gamma;
    double change = 0;
    for (int i = 0; i < n; ++i) change += std::fabs(next[static_cast<std::size_t>(i)] - alpha[static_cast<std::size_t>(i)]);
    alpha = next;
    if (change < tolerance) break;
  }
  return alpha;
}

Vector solve(Matrix a, Vector b) {
  const int n = a.n;
  for (int c = 0; c < n; ++c) {
    int pivot = c;
    for (int r = c + 1; r < n; ++r)
      if (std::fabs(a(r, c)) > std::fabs(a(pivot, c))) pivot = r;
    double scale = 0;
    for (int r = 0; r < n; ++r) scale = std::max(scale, std::fabs(a(r, c)));
    if (std::fabs(a(pivot, c)) <= 1e-13 * std::max(1.0, scale)) fail("singular linear system");
    if (pivot != c) {
      for (int k = 0; k < n; ++k) std::swap(a(c, k), a(pivot, k));
      std::swap(b[static_cast<std::size_t>(c)], b[static_cast<std::size_t>(pivot)]);
    }
    for (int r = c + 1; r < n; ++r) {
      double f = a(r, c) / a(c, c);
      if (f == 0) continue;
      for (int k = c; k < n; ++k) a(r, k) -= f * a(c, k);
      b[static_cast<std::size_t>(r)] -= f * b[static_cast<std::size_t>(c)];
    }
  }
  Vector x(static_cast<std::size_t>(n), 0.0);
  for (int r = n - 1; r >= 0; --r) {
    double s = b[static_cast<std::size_t>(r)];
    for (int k = r + 1; k < n; ++k) s -= a(r, k) * x[static_cast<std::size_t>(k)];
    x[static_cast<std::size_t>(r)] = s / a(r, r);
  }
  return x;
}

Vector min_norm_exact(const Matrix& m) {
  const int n = m.n;
  if (n > 20) fail("min_norm_exact: {} tasks is too many to enumerate", n);
  Vector best;
  double best_cost = std::numeric_limits<double>::infinity();
  for (unsigned mask = 1; mask < (1u << n); ++mask) {
    std::vector<int> s;
    for (int i = 0; i < n; ++i)
      if (mask & (1u << i)) s.push_back(i);
    const int k = static_cast<int>(s.size());
    // [M_SS 1; 1ᵀ 0] [α_S; −λ] = [0; 1]
    Matrix kkt(k + 1);
    Vector rhs(static_cast<std::size_t>(k + 1), 0.0);
    for (int i = 0; i < k; ++i) {
      for (int j = 0; j < k; ++j) kkt(i, j) = m(s[static_cast<std::size_t>(i)], s[static_cast<std::size_t>(j)]);
      kkt(i, k) = 1;
      kkt(k, i) = 1;
    }
    rhs[static_cast<std::size_t>(k)] = 1;
    Vector x;
    try {
      x = solve(kkt, rhs);
    } catch (const Error&) {
      continue;
    }
    Vector alpha(static_cast<std::size_t>(n), 0.0);
    bool feasible = true;
    for (int i = 0; i < k; ++i) {
      if (x[static_cast<std::size_t>(i)] < -1e-12) feasible = false;
      alpha[static_cast<std::size_t>(s[static_cast<std::size_t>(i)])] = std::max(0.0, x[static_cast<std::size_t>(i)]);
    }
    if (!feasible) continue;
    double cost = quadratic(m, alpha);
    if (cost < best_cost - 1e-15) {
      best_cost = cost;
      best = alpha;
    }
  }
  return best;
}

Vector project_to_simplex(const Vector& x) {
  Vector u = x;
  std::sort(u.begin(), u.end(), std::greater<double>());
  double cumulative = 0, theta = 0;
  for (std::size_t j = 0; j < u.size(); ++j) {
    cumulative += u[j];
    double t = (cumulative - 1) / static_cast<double>(j + 1);
    if (u[j] - t > 0) theta = t;
  }
  Vector p(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) p[i] = std::max(0.0, x[i] - theta);
  return p;
}

Vector minimise_on_simplex(const std::function<double(const Vector&)>& f, const std::function<Vector(const Vector&)>& gradient,
                           Vector x, int max_iterations, double tolerance) {
  x = project_to_simplex(x);
  double fx = f(x), step = 1.0;
  for (int it = 0; it < max_iterations; ++it) {
    Vector g = gradient(x);
    Vector next;
    double fn = 0, moved = 0;
    for (int tries = 0; tries < 60; ++tries) {
      Vector y = x;
      for (std::size_t i = 0; i < y.size(); ++i) y[i] -= step * g[i];
      next = project_to_simplex(y);
      Vector d(x.size());
      for (std::size_t i = 0; i < x.size(); ++i) d[i] = next[i] - x[i];
      moved = std::sqrt(dot(d, d));
      fn = f(next);
      // Sufficient decrease for a step of 1/step-smoothness.
      if (fn <= fx + dot(g, d) + dot(d, d) / (2 * step) + 1e-15 * std::fabs(fx)) break;
      step *= 0.5;
    }
    if (moved < tolerance) {
      if (fn < fx) x = next;
      break;
    }
    x = next;
    fx = fn;
    step *= 2;
  }
  return x;
}

Vector box_qp(const Matrix& m, const Vector& lower, int max_iterations, double tolerance) {
  const int n = m.n;
  Vector v = lower;
  Vector mv = multiply(m, v);
  for (int it = 0; it < max_iterations; ++it) {
    double change = 0;
    for (int i = 0; i < n; ++i) {
      const auto ui = static_cast<std::size_t>(i);
      double target = m(i, i) > 0 ? std::max(lower[ui], v[ui] - mv[ui] / m(i, i)) : lower[ui];
      double d = target - v[ui];
      if (d == 0) continue;
      v[ui] = target;
      for (int r = 0; r < n; ++r) mv[static_cast<std::size_t>(r)] += m(r, i) * d;
      change = std::max(change, std::fabs(d));
    }
    if (change <= tolerance * std::max(1.0, *std::max_element(v.begin(), v.end()))) break;
  }
  return v;
}

Vector fair_weights(const Matrix& m0, double a, double ridge, int max_iterations) {
  const int n = m0.n;
  Matrix m = m0;
  double trace = 0;
  for (int i = 0; i < n; ++i) trace += m0(i, i);
  const double r = ridge * std::max(trace / n, 1e-30);
  for (int i = 0; i < n; ++i) m(i, i) += r;
  const double p = 1.0 / a;  // φ'(x) = x^−p
  auto phi = [&](double x) { return a == 1.0 ? std::log(x) : std::pow(x, 1 - p) / (1 - p); };
  auto f = [&](const Vector& x) {
    double s = 0.5 * quadratic(m, x);
    for (double v : x) s -= phi(v);
    return s;
  };
  // Start on the ray α = s·1 where the condition holds on average.
  Vector ones(static_cast<std::size_t>(n), 1.0);
  double mean = quadratic(m, ones) / n;
  Vector x(static_cast<std::size_t>(n), std::pow(std::max(mean, 1e-30), -1.0 / (1 + p)));
  for (int it = 0; it < max_iterations; ++it) {
    Vector mx = multiply(m, x);
    Vector g(static_cast<std::size_t>(n));
    double gnorm = 0, scale = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      g[i] = mx[i] - std::pow(x[i], -p);
      gnorm = std::max(gnorm, std::fabs(g[i]));
      scale = std::max(scale, std::pow(x[i], -p));
    }
    if (gnorm <= 1e-12 * scale) break;
    Matrix h = m;
    for (int i = 0; i < n; ++i) h(i, i) += p * std::pow(x[static_cast<std::size_t>(i)], -p - 1);
    Vector d = solve(h, g);
    double t = 1.0, fx = f(x);
    Vector y;
    for (int tries = 0; tries < 60; ++tries, t *= 0.5) {
      y = x;
      bool positive = true;
      for (std::size_t i = 0; i < y.size(); ++i) {
        y[i] -= t * d[i];
        if (y[i] <= 0) positive = false;
      }
      if (positive && f(y) <= fx - 1e-4 * t * dot(g, d)) break;
    }
    x = y;
  }
  return x;
}

Eigen symmetric_eigen(const Matrix& m) {
  const int n = m.n;
  Matrix a = m, v(n);
  for (int i = 0; i < n; ++i) v(i, i) = 1;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0, total = 0;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        total += a(i, j) * a(i, j);
        if (i != j) off += a(i, j) * a(i, j);
      }
    if (off <= 1e-30 * std::max(total, 1e-300)) break;
    for (int p = 0; p < n; ++p)
      for (int q = p + 1; q < n; ++q) {
        if (a(p, q) == 0) continue;
        double theta = (a(q, q) - a(p, p)) / (2 * a(p, q));
        double t = (theta >= 0 ? 1 : -1) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < n; ++k) {
          double akp = a(k, p), akq = a(k, q);
          a(k, p) = c * akp - s * akq;
          a(k, q) = s * akp + c * akq;
        }
        for (int k = 0; k < n; ++k) {
          double apk = a(p, k), aqk = a(q, k);
          a(p, k) = c * apk - s * aqk;
          a(q, k) = s * apk + c * aqk;
        }
        for (int k = 0; k < n; ++k) {
          double vkp = v(k, p), vkq = v(k, q);
          v(k, p) = c * vkp - s * vkq;
          v(k, q) = s * vkp + c * vkq;
        }
      }
  }
  // Sort ascending.
  std::vector<int> order(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  std::sort(order.begin(), order.end(), [&](int x, int y) { return a(x, x) < a(y, y); });
  Eigen e;
  e.vectors = Matrix(n);
  for (int k = 0; k < n; ++k) {
    int src = order[static_cast<std::size_t>(k)];
    e.values.push_back(a(src, src));
    for (int i = 0; i < n; ++i) e.vectors(i, k) = v(i, src);
  }
  return e;
}

Matrix align(const Matrix& m) {
  const int n = m.n;
  Eigen e = symmetric_eigen(m);
  const double largest = e.values.empty() ? 0.0 : e.values.back();
  const double tolerance = largest * n * 1.1920928955078125e-07;
  Matrix b(n);
  double smallest = 0;
  for (double v : e.values)
    if (v > tolerance && largest > 0) {
      smallest = v;
      break;
    }
  if (smallest <= 0) return b;
  for (int k = 0; k < n; ++k) {
    double lambda = e.values[static_cast<std::size_t>(k)];
    if (lambda <= tolerance) continue;
    double scale = std::sqrt(smallest / lambda);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) b(i, j) += scale * e.vectors(i, k) * e.vectors(j, k);
  }
  return b;
}

}  // namespace densemtl::balancing::solvers
