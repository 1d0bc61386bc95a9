// Boundary detection: a binary boundary map, predicted as one logit per pixel, scored with the
// native BSDS/SEISM evaluation (odsF, oisF, AP).
#include "densemtl/tasks/kinds.h"

namespace densemtl::tasks {

namespace {

class Edge : public BinaryMapTask {
 public:
  std::string name() const override { return "edge"; }
  std::string title() const override { return "Boundaries"; }
  // Balanced BCE with a fixed positive weight (tasks.edge_pos_weight, 0.95 by default).
  at::Tensor loss(const at::Tensor& out, const at::Tensor& label, const LossOptions& o) const override {
    return balanced_bce_loss(out, label, o.edge_pos_weight);
  }
  std::unique_ptr<eval::Metric> make_metric(const eval::MetricOptions& o) const override { return eval::make_boundary_metric(o); }
  std::string delta_metric() const override { return "odsF"; }
};

}  // namespace

std::unique_ptr<Task> make_task_edge() { return std::make_unique<Edge>(); }

}  // namespace densemtl::tasks
