// The processes of a multi-process run, as the layers below the trainer see them: rank, size and
// the few collectives they need (sums, gathers, a broadcast). One process is one rank, so the
// group is process-wide: world() is null in a single-process run, and code that has a
// multi-process path asks for it (the loss normalisers, sync batch norm, the balancers' gradient
// matrices). The implementation on c10d lives in dist/.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

namespace densemtl {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // An operation in flight.
  class Pending {
   public:
    virtual ~Pending() = default;
    // Blocks until it is done (or fails, naming the process at fault, after the group's timeout).
    virtual void wait() = 0;
  };
  // Starts summing the contiguous `tensor` over the processes, in place; the caller keeps it alive
  // and untouched until wait() returns. Every process starts the same sums in the same order.
  virtual std::unique_ptr<Pending> start_all_reduce_sum(at::Tensor tensor) = 0;
  // Sums each tensor over the processes, in place, whatever its memory layout (one operation for
  // all of them; every process passes the same shapes in the same order).
  void all_reduce_sum(std::vector<at::Tensor>& tensors);
  void all_reduce_sum(at::Tensor& tensor) {
    std::vector<at::Tensor> one{tensor};
    all_reduce_sum(one);
  }
  // Every process's `tensor` (same shape everywhere), in rank order.
  virtual std::vector<at::Tensor> all_gather(const at::Tensor& tensor) = 0;
  // `tensor` of process `root` on every process, in place.
  virtual void broadcast(at::Tensor& tensor, int root = 0) = 0;
  // Waits until every process got here (within the group's timeout; a missing one is named).
  virtual void barrier() = 0;
};

// The group of this run; null when the run has one process.
Collective* world();
// Installs (or, with null, removes) the group. The caller keeps it alive while installed.
void set_world(Collective* group);

// A sum over the processes that is part of the autograd graph: its gradient is the sum of the
// processes' gradients (what every process's output depends on). Without a group: `x` itself.
at::Tensor all_reduce_sum_differentiable(const at::Tensor& x);

// Variable-length double vectors of every process, in rank order (for metric accumulators).
std::vector<std::vector<double>> all_gather_values(const std::vector<double>& values);

}  // namespace densemtl
