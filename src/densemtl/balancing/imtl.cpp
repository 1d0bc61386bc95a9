// IMTL. Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021.
//
// IMTL-L (loss balance, Eq. 4): each task's loss is scaled by a learned e^{s_t} and regularised,
//   L = Σ_t (e^{s_t} L_t − s_t),
// which drives every scaled loss e^{s_t} L_t towards 1.
// IMTL-G (gradient balance, Algorithm 1): the combined gradient g = Σ_t α_t g_t with Σ α_t = 1
// has equal projections on all unit task gradients u_t = g_t / |g_t|:
//   D = [g_1 − g_t]_{t≥2},  U = [u_1 − u_t]_{t≥2},  α_{2..T} = g_1 Uᵀ (D Uᵀ)^{−1},  α_1 = 1 − Σ_{t≥2} α_t,
// applied to the shared representation (mode: rep, the paper's choice) or parameters; the heads
// keep their own gradients.
// IMTL (Algorithm 2): IMTL-G on the gradients of the IMTL-L-scaled losses; the scales learn from
// their own gradients.
#include "densemtl/balancing/balancer.h"
#include "densemtl/core/log.h"

namespace densemtl::balancing {

namespace {

// IMTL-G's weights for the rows of G (T x D).
torch::Tensor impartial_weights(const torch::Tensor& G) {
  const std::int64_t T = G.size(0);
  torch::Tensor g = G.to(torch::kFloat64);
  if (T == 1) return torch::ones({1}, g.options());
  torch::Tensor u = g / g.norm(2, 1, true).clamp_min(1e-20);
  torch::Tensor D = g[0].unsqueeze(0) - g.slice(0, 1);  // (T−1) x D
  torch::Tensor U = u[0].unsqueeze(0) - u.slice(0, 1);
  torch::Tensor DU = torch::matmul(D, U.t()).to(torch::kCPU).contiguous();  // (T−1) x (T−1)
  torch::Tensor gU = torch::matmul(g[0].unsqueeze(0), U.t()).squeeze(0).to(torch::kCPU).contiguous();
  // α (D Uᵀ) = g_1 Uᵀ  ⇔  (D Uᵀ)ᵀ αᵀ = (g_1 Uᵀ)ᵀ
  solvers::Matrix a(static_cast<int>(T - 1));
  solvers::Vector rhs(static_cast<std::size_t>(T - 1));
  for (int i = 0; i < a.n; ++i) {
    rhs[static_cast<std::size_t>(i)] = gU[i].item<double>();
    for (int j = 0; j < a.n; ++j) a(i, j) = DU[j][i].item<double>();
  }
  solvers::Vector rest;
  try {
    rest = solvers::solve(a, rhs);
  } catch (const Error&) {
    // Linearly dependent unit gradients (e.g. two identical tasks): equal weights.
    log_debug("IMTL-G: singular system, equal weights this step");
    return torch::full({T}, 1.0 / static_cast<double>(T), g.options());
  }
  double sum = 0;
  for (double r : rest) sum += r;
  solvers::Vector alpha = {1 - sum};
  alpha.insert(alpha.end(), rest.begin(), rest.end());
  return to_tensor(alpha, g);
}

class ImtlL : public Balancer {
 public:
  explicit ImtlL(const Setup& setup) : Balancer(setup) {
    scale_ = task_parameter("log_scale", torch::zeros({static_cast<std::int64_t>(tasks().size())}));
  }
  std::string name() const override { return "imtl_l"; }
  Mode mode() const override { return Mode::Losses; }

 protected:
  torch::Tensor objective(const Losses& losses, Context&) override {
    torch::Tensor w = torch::exp(scale_);
    show_weights(w);
    return losses.weighted_sum(w) - scale_.sum();
  }

 private:
  torch::Tensor scale_;
};

class ImtlG : public Balancer {
 public:
  explicit ImtlG(const Setup& setup) : Balancer(setup), mode_(read_mode(options())) {}
  std::string name() const override { return "imtl_g"; }
  Mode mode() const override { return mode_; }

 protected:
  Combination combine(const torch::Tensor& G, const Losses&, Context&) override {
    torch::Tensor alpha = impartial_weights(G);
    show_weights(alpha);
    return Combination::of_direction(torch::matmul(alpha.to(G.dtype()), G));
  }

 private:
  Mode mode_;
};

class Imtl : public ImtlG {
 public:
  explicit Imtl(const Setup& setup) : ImtlG(setup) {
    scale_ = task_parameter("log_scale", torch::zeros({static_cast<std::int64_t>(tasks().size())}));
  }
  std::string name() const override { return "imtl"; }

 protected:
  std::vector<torch::Tensor> objectives(const Losses& losses, Context&) override {
    std::vector<torch::Tensor> o = losses.objectives();
    for (std::size_t t = 0; t < o.size(); ++t) {
      torch::Tensor s = scale_[static_cast<std::int64_t>(t)];
      o[t] = torch::exp(s) * o[t] - s;
    }
    return o;
  }

 private:
  torch::Tensor scale_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"imtl_l", 70, "IMTL-L (Liu et al. 2021): learned loss scales e^s L − s", balancer<ImtlL>});
DENSEMTL_REGISTER(BalancerEntry, {"imtl_g", 140, "IMTL-G (Liu et al. 2021): equal projections on the unit task gradients",
                                  balancer<ImtlG>, {mode_option("rep")}});
DENSEMTL_REGISTER(BalancerEntry, {"imtl", 141, "IMTL (Liu et al. 2021): IMTL-G on IMTL-L-scaled losses", balancer<Imtl>,
                                  {mode_option("rep")}});

}  // namespace densemtl::balancing
