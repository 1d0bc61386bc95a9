#include "densemtl/train/gradient_sync.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <chrono>

#include "densemtl/core/error.h"

namespace densemtl::train {

struct GradientSync::State {
  struct Bucket {
    std::vector<std::size_t> members;  // parameter positions
    std::size_t ready = 0;
    torch::Tensor buffer;
    std::unique_ptr<Collective::Pending> pending;
    std::set<const void*> skipped;     // not launched with a skip set
  };
  Collective* group = nullptr;
  std::vector<torch::Tensor> params;
  std::vector<std::size_t> bucket_of;
  std::vector<Bucket> buckets;
  std::vector<bool> seen;
  bool armed = false, overlap = true;
  std::size_t next = 0;  // buckets start in index order (every process the same), a ready prefix at a time
  double wait_seconds = 0;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;
  std::vector<std::uintptr_t> hooks;

  // Flattens the bucket's gradients (zeros for none) and starts their sum.
  void launch(Bucket& b) {
    std::vector<torch::Tensor> flat;
    for (auto i : b.members) {
      const torch::Tensor& p = params[i];
      flat.push_back(p.grad().defined() ? p.grad().reshape(-1) : torch::zeros({p.numel()}, p.options()));
    }
    b.buffer = torch::cat(flat);
    b.pending = group->start_all_reduce_sum(b.buffer);
  }

  void ready(std::size_t i) {
    if (!armed) return;
    if (seen[i]) fail("internal: the gradient of a parameter was accumulated twice in one multi-process step");
    seen[i] = true;
    ++buckets[bucket_of[i]].ready;
    while (next < buckets.size() && buckets[next].ready == buckets[next].members.size()) launch(buckets[next++]);
  }
};

namespace {

class ReadyHook : public torch::autograd::FunctionPostHook {
 public:
  ReadyHook(std::weak_ptr<GradientSync::State> state, std::size_t index) : state_(std::move(state)), index_(index) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    if (auto s = state_.lock()) s->ready(index_);
    return outputs;
  }

 private:
  std::weak_ptr<GradientSync::State> state_;
  std::size_t index_;
};

}  // namespace

GradientSync::GradientSync(Collective& group, std::vector<torch::Tensor> parameters, std::int64_t bucket_bytes, bool overlap)
    : state_(std::make_shared<State>()) {
  State& s = *state_;
  s.overlap = overlap;
  s.group = &group;
  s.params = std::move(parameters);
  s.bucket_of.assign(s.params.size(), 0);
  s.seen.assign(s.params.size(), false);
  // Buckets in reverse order, as the backward pass finishes the parameters; the same on every
  // process (the same model).
  std::int64_t bytes = 0;
  for (std::size_t k = s.params.size(); k-- > 0;) {
    const torch::Tensor& p = s.params[k];
    const std::int64_t size = p.numel() * static_cast<std::int64_t>(p.element_size());
    if (s.buckets.empty() || (bytes > 0 && bytes + size > bucket_bytes)) {
      s.buckets.emplace_back();
      bytes = 0;
    }
    s.buckets.back().members.push_back(k);
    s.bucket_of[k] = s.buckets.size() - 1;
    bytes += size;
  }
  for (std::size_t k = 0; k < s.params.size(); ++k) {
    auto acc = torch::autograd::impl::grad_accumulator(s.params[k]);
    if (!acc) fail("internal: parameter {} has no gradient accumulator", k);
    s.hooks.push_back(acc->add_post_hook(std::make_unique<ReadyHook>(state_, k)));
    s.accumulators.push_back(std::move(acc));
  }
}

GradientSync::~GradientSync() {
  for (std::size_t k = 0; k < state_->accumulators.size(); ++k) state_->accumulators[k]->del_post_hook(state_->hooks[k]);
}

void GradientSync::arm() {
  State& s = *state_;
  for (auto& b : s.buckets) {
    b.ready = 0;
    b.pending.reset();
    b.buffer = torch::Tensor();
  }
  std::fill(s.seen.begin(), s.seen.end(), false);
  s.next = 0;
  s.armed = s.overlap;
}

void GradientSync::reduce(const std::set<const void*>& skip) {
  State& s = *state_;
  s.armed = false;
  auto start = std::chrono::steady_clock::now();
  if (!skip.empty()) {
    // Gradient modes: nothing was launched by a hook for the skipped (shared) parameters; the
    // others go in one flat sum.
    std::vector<torch::Tensor> grads;
    std::vector<std::size_t> members;
    for (std::size_t k = 0; k < s.params.size(); ++k) {
      if (skip.count(s.params[k].unsafeGetTensorImpl())) continue;
      if (s.seen[k]) fail("internal: a hook saw a gradient in a step that sums the gradients itself");
      members.push_back(k);
      const torch::Tensor& p = s.params[k];
      grads.push_back(p.grad().defined() ? p.grad().reshape(-1) : torch::zeros({p.numel()}, p.options()));
    }
    if (!grads.empty()) {
      torch::Tensor flat = torch::cat(grads);
      s.group->start_all_reduce_sum(flat)->wait();
      std::int64_t offset = 0;
      for (auto k : members) {
        torch::Tensor p = s.params[k];
        if (p.grad().defined()) p.mutable_grad().copy_(flat.narrow(0, offset, p.numel()).view_as(p));
        offset += p.numel();
      }
    }
  } else {
    for (auto& b : s.buckets)
      if (!b.pending) s.launch(b);
    for (auto& b : s.buckets) {
      b.pending->wait();
      std::int64_t offset = 0;
      for (auto k : b.members) {
        torch::Tensor p = s.params[k];
        if (p.grad().defined()) p.mutable_grad().copy_(b.buffer.narrow(0, offset, p.numel()).view_as(p));
        offset += p.numel();
      }
      b.pending.reset();
      b.buffer = torch::Tensor();
    }
  }
  s.wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double GradientSync::take_wait_seconds() {
  double w = state_->wait_seconds;
  state_->wait_seconds = 0;
  return w;
}

}  // namespace densemtl::train
