// The small T-dimensional problems of gradient balancing, solved natively (no SciPy, no cvxpy):
// T is the number of tasks (2 to ~10), the inputs are Gram matrices M = G Gᵀ of per-task gradients.
// Matrices are dense, row-major, in double precision. Every solver is tested against closed
// forms or its optimality (KKT) conditions, degenerate inputs included (tests/test_solvers.cpp).
#pragma once

#include <functional>
#include <vector>

namespace densemtl::balancing::solvers {

using Vector = std::vector<double>;

// A symmetric T x T matrix.
struct Matrix {
  int n = 0;
  std::vector<double> a;  // row-major
  Matrix() = default;
  explicit Matrix(int size) : n(size), a(static_cast<std::size_t>(size) * static_cast<std::size_t>(size), 0.0) {}
  double& operator()(int i, int j) { return a[static_cast<std::size_t>(i * n + j)]; }
  double operator()(int i, int j) const { return a[static_cast<std::size_t>(i * n + j)]; }
};

Vector multiply(const Matrix& m, const Vector& x);
double dot(const Vector& a, const Vector& b);
double quadratic(const Matrix& m, const Vector& x);  // xᵀ M x

// The min-norm point of two vectors with Gram entries v11 = |g1|², v12 = g1·g2, v22 = |g2|²:
// γ in [0, 1] minimising |γ g1 + (1 − γ) g2|² (Sener & Koltun 2018, Algorithm 1), and that value.
struct Pair {
  double gamma, cost;
};
Pair min_norm_pair(double v11, double v12, double v22);

// The min-norm point in the convex hull of the task gradients: argmin_{α ∈ Δ} αᵀ M α, with
// Sener & Koltun's Frank–Wolfe solver (MinNormSolver: the best pair as the start, then
// Frank–Wolfe steps with the exact pair line search) until the step changes α by less than
// `tolerance` or after `max_iterations`.
Vector min_norm_frank_wolfe(const Matrix& m, int max_iterations = 250, double tolerance = 1e-5);

// The same point exactly, by enumerating the supports of α (each a small linear system): for
// checking the Frank–Wolfe solver and where T is small enough (2^T supports).
Vector min_norm_exact(const Matrix& m);

// The Euclidean projection of `x` onto the probability simplex.
Vector project_to_simplex(const Vector& x);

// argmin of a smooth convex function over the simplex, by projected gradient descent with
// backtracking, from `start`; stops when the projected-gradient step is below `tolerance`.
Vector minimise_on_simplex(const std::function<double(const Vector&)>& f,
                           const std::function<Vector(const Vector&)>& gradient, Vector start,
                           int max_iterations = 20000, double tolerance = 1e-12);

// argmin_{v ≥ lower} vᵀ M v by projected Newton / coordinate steps on the box (M positive
// semi-definite): UPGrad's projection of a row onto the dual cone.
Vector box_qp(const Matrix& m, const Vector& lower, int max_iterations = 10000, double tolerance = 1e-14);

// The positive solution of M α = φ'(α) elementwise, as the minimiser of
//   ½ αᵀ M α − Σ φ(α_i)
// by damped Newton steps kept inside α > 0, where φ'(x) = x^(−1/a) (a = 1: φ = log, the Nash
// bargaining solution of Nash-MTL, M α = 1/α; other a: FairGrad's α-fairness, M α = α^(−1/a)).
// A ridge `ridge` · I is added to M so that a solution exists when the gradients are linearly
// dependent with a non-negative combination of zero (opposite or zero gradients).
Vector fair_weights(const Matrix& m, double a = 1.0, double ridge = 1e-8, int max_iterations = 200);

// Solves the (small, dense) linear system A x = b by Gaussian elimination with partial pivoting.
// Throws when A is singular to working precision.
Vector solve(Matrix a, Vector b);

// Eigen-decomposition of a symmetric matrix (Jacobi rotations): eigenvalues ascending, and the
// eigenvectors as the columns of `vectors`.
struct Eigen {
  Vector values;
  Matrix vectors;
};
Eigen symmetric_eigen(const Matrix& m);

// Aligned-MTL's balance transformation of a Gram matrix M = V Λ Vᵀ: with the eigenvalues above
// max(λ) · T · ε_float32 kept (rank R), B = √λ_min V_R Λ_R^{−1/2} V_Rᵀ, so that the aligned gradients
// B G have B M B = λ_min · (projection onto the range of M): a gradient system with condition number 1.
// Returns B (a zero matrix when M is zero).
Matrix align(const Matrix& m);

}  // namespace densemtl::balancing::solvers
