// Saliency: a binary foreground mask, predicted as one logit per pixel.
#include "densemtl/tasks/kinds.h"

namespace densemtl::tasks {

namespace {

class Saliency : public BinaryMapTask {
 public:
  std::string name() const override { return "sal"; }
  std::string title() const override { return "Saliency"; }
  // Batch-balanced BCE: the positive weight is the batch's share of negatives.
  at::Tensor loss(const at::Tensor& out, const at::Tensor& label, const LossOptions&) const override {
    return balanced_bce_loss(out, label, std::nullopt);
  }
  std::unique_ptr<eval::Metric> make_metric(const eval::MetricOptions&) const override { return eval::make_saliency_metric(); }
  // Delta_m uses saliency's mIoU (max over thresholds), not maxF, as the reference.
  std::string delta_metric() const override { return "mIoU"; }
};

}  // namespace

std::unique_ptr<Task> make_task_sal() { return std::make_unique<Saliency>(); }

}  // namespace densemtl::tasks
