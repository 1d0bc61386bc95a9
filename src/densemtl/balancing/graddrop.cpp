// GradDrop. Chen et al., "Just Pick a Sign: Optimizing Deep Multitask Models with Gradient Sign
// Dropout", NeurIPS 2020, Algorithm 1, on the shared representation A (the paper's layer).
//
// With ∇_t = ∂L_t/∂A per sample:
//   S_t = Σ_batch sign(A) ⊙ ∇_t                         (sign-corrected, summed over the batch)
//   P   = ½ (1 + Σ_t S_t / (Σ_t |S_t| + 1e-7))         (gradient sign purity, per element)
//   U ~ Uniform(0, 1) per element;  M_t = [P > U]·[S_t > 0] + [P < U]·[S_t < 0]
//   A.backward(Σ_t ∇_t ⊙ (ℓ + (1 − ℓ) M_t))             (mask broadcast over the batch)
// leak ℓ = 0. The heads keep their own gradients. The draws come from the CPU generator.
#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class GradDrop : public Balancer {
 public:
  explicit GradDrop(const Setup& setup) : Balancer(setup), leak_(options().get_float("leak")) {}
  std::string name() const override { return "graddrop"; }
  Mode mode() const override { return Mode::Representation; }

 protected:
  Combination combine(const torch::Tensor& G, const Losses&, Context& context) override {
    torch::NoGradGuard guard;
    std::vector<torch::Tensor> parts;
    std::int64_t offset = 0;
    for (const auto& a : context.output.representation.shared) {
      const std::int64_t B = a.size(0), n = a.numel();
      torch::Tensor grads = G.narrow(1, offset, n).reshape({G.size(0), B, n / B});  // T x B x F
      torch::Tensor sign = torch::sign(a.detach().reshape({B, n / B}).to(grads.scalar_type()));
      torch::Tensor s = (grads * sign.unsqueeze(0)).sum(1);  // T x F
      torch::Tensor purity = 0.5 * (1 + s.sum(0) / (s.abs().sum(0) + 1e-7));
      torch::Tensor u = torch::rand({n / B}, torch::TensorOptions().dtype(torch::kFloat32)).to(purity.device(), purity.scalar_type());
      torch::Tensor mask = ((purity > u).unsqueeze(0) & (s > 0)) | ((purity < u).unsqueeze(0) & (s < 0));  // T x F
      torch::Tensor keep = leak_ + (1 - leak_) * mask.to(grads.scalar_type());
      parts.push_back((grads * keep.unsqueeze(1)).sum(0).reshape({n}));
      offset += n;
    }
    return Combination::of_direction(torch::cat(parts));
  }

 private:
  double leak_;
};

}  // namespace

DENSEMTL_REGISTER(BalancerEntry, {"graddrop", 115, "GradDrop (Chen et al. 2020): keep one gradient sign per representation element",
                                  balancer<GradDrop>, {config::real("leak", 0.0, 0.0, 1.0, "Leak ℓ: the share of every gradient always kept")}});

}  // namespace densemtl::balancing
