// Saliency: a binary foreground mask, predicted as one logit per pixel.
#include "densemtl/tasks/kinds.h"

namespace densemtl::tasks {

namespace {

class Saliency : public BinaryMapTask {
 public:
  std::string name() const override { return "sal"; }
  std::string title() const override { return "Saliency"; }
  // Batch-balanced BCE: the positive weight is the batch's share of negatives.
  at::Tensor loss(const at::Tensor& out, const at::Tensor& label) const override {
    return balanced_bce_loss(out, label, std::nullopt);
  }
  std::unique_ptr<Metric> make_metric(const MetricContext&) const override { return make_saliency_metric(); }
  // Delta_m uses saliency's mIoU (max over thresholds), not maxF, as the reference.
  std::string delta_metric() const override { return "mIoU"; }
  std::vector<ReportColumn> report_columns() const override {
    return {{"maxF", "Sal. maxF ↑", false, 2}, {"mIoU", "Sal. mIoU ↑", false, 2}};
  }
};

}  // namespace

DENSEMTL_REGISTER(TaskEntry, {"sal", 30, [] { return std::make_unique<Saliency>(); }});

}  // namespace densemtl::tasks
