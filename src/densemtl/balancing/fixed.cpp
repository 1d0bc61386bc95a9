// Fixed loss weights: total = sum_t w_t L_t, one backward pass. The reference's only scheme
// (loss_schemes.py), with its per-dataset weights in the configs.
#include "densemtl/balancing/balancer.h"

namespace densemtl::balancing {

namespace {

class Fixed : public Balancer {
 public:
  explicit Fixed(const Options& o) {
    for (const auto& t : o.tasks) weights_[t] = o.weights.count(t) ? o.weights.at(t) : 1.0;
  }
  std::string name() const override { return "fixed"; }

  torch::Tensor backward(const std::map<std::string, torch::Tensor>& losses, Context&) override {
    torch::Tensor total;
    for (const auto& [task, loss] : losses) {
      torch::Tensor term = loss * weights_.at(task);
      total = total.defined() ? total + term : term;
    }
    total.backward();
    return total.detach();
  }

  std::map<std::string, double> weights() const override { return weights_; }

 private:
  std::map<std::string, double> weights_;
};

}  // namespace

std::unique_ptr<Balancer> make_balancer_fixed(const Options& o) { return std::make_unique<Fixed>(o); }

}  // namespace densemtl::balancing
