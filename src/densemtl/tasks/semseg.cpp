// Semantic segmentation: one class index per pixel, 255 = ignore.
#include "densemtl/tasks/kinds.h"

namespace densemtl::tasks {

namespace {

class Semseg : public ClassMapTask {
 public:
  std::string name() const override { return "semseg"; }
  std::string title() const override { return "Semantic segmentation"; }
  int output_channels(const data::DatasetInfo& d) const override { return static_cast<int>(d.class_names.size()); }
  std::unique_ptr<eval::Metric> make_metric(const eval::MetricOptions& o) const override { return eval::make_miou_metric(o); }
};

}  // namespace

std::unique_ptr<Task> make_task_semseg() { return std::make_unique<Semseg>(); }

}  // namespace densemtl::tasks
