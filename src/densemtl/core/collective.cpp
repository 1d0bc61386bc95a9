#include "densemtl/core/collective.h"

#include <torch/torch.h>

#include <algorithm>
#include <map>

namespace densemtl {

namespace {

Collective* g_world = nullptr;

// y = Σ_processes x; every process's loss depends on every x, so the gradient of x is the sum of
// the processes' gradients of y.
struct AllReduceSum : public torch::autograd::Function<AllReduceSum> {
  static torch::Tensor forward(torch::autograd::AutogradContext* /*ctx*/, const torch::Tensor& x) {
    torch::Tensor y = x.detach().clone().contiguous();
    world()->all_reduce_sum(y);
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* /*ctx*/, torch::autograd::variable_list grads) {
    torch::Tensor g = grads[0].contiguous().clone();
    world()->all_reduce_sum(g);
    return {g};
  }
};

}  // namespace

void Collective::all_reduce_sum(std::vector<at::Tensor>& tensors) {
  if (tensors.empty()) return;
  if (tensors.size() == 1 && tensors[0].is_contiguous()) {
    start_all_reduce_sum(tensors[0])->wait();
    return;
  }
  // One flat buffer per dtype: one operation instead of many small ones.
  std::map<at::ScalarType, std::vector<std::size_t>> by_type;
  for (std::size_t i = 0; i < tensors.size(); ++i) by_type[tensors[i].scalar_type()].push_back(i);
  for (const auto& [type, members] : by_type) {
    std::vector<torch::Tensor> flat;
    for (auto i : members) flat.push_back(tensors[i].reshape(-1));
    torch::Tensor buffer = torch::cat(flat);
    start_all_reduce_sum(buffer)->wait();
    std::int64_t offset = 0;
    for (auto i : members) {
      torch::Tensor& t = tensors[i];
      t.copy_(buffer.narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

Collective* world() { return g_world; }

void set_world(Collective* group) { g_world = group; }

at::Tensor all_reduce_sum_differentiable(const at::Tensor& x) {
  if (!g_world || g_world->size() == 1) return x;
  return AllReduceSum::apply(x);
}

std::vector<std::vector<double>> all_gather_values(const std::vector<double>& values) {
  if (!g_world || g_world->size() == 1) return {values};
  torch::Tensor n = torch::tensor({static_cast<double>(values.size())}, torch::kFloat64);
  std::vector<torch::Tensor> sizes = g_world->all_gather(n);
  std::int64_t longest = 0;
  for (const auto& s : sizes) longest = std::max(longest, static_cast<std::int64_t>(s.item<double>()));
  torch::Tensor padded = torch::zeros({longest}, torch::kFloat64);
  std::copy(values.begin(), values.end(), padded.data_ptr<double>());
  std::vector<torch::Tensor> all = g_world->all_gather(padded);
  std::vector<std::vector<double>> out;
  for (std::size_t r = 0; r < all.size(); ++r) {
    const auto len = static_cast<std::int64_t>(sizes[r].item<double>());
    const double* p = all[r].data_ptr<double>();
    out.emplace_back(p, p + len);
  }
  return out;
}

}  // namespace densemtl
