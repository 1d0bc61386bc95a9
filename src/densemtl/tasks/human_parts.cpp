// Human part segmentation: background 0 and six parts (head, torso, upper arm, lower arm, upper
// leg, lower leg). An image whose map is all background has no part supervision at all (the
// reference's AddIgnoreRegions turns it into all-ignore), and is skipped by the metric.
#include "densemtl/tasks/kinds.h"

namespace densemtl::tasks {

namespace {

class HumanParts : public ClassMapTask {
 public:
  std::string name() const override { return "human_parts"; }
  std::string title() const override { return "Human parts"; }
  int output_channels(const data::DatasetInfo& d) const override { return static_cast<int>(d.part_names.size()); }
  void mark_ignore(cv::Mat& label) const override {
    if (cv::countNonZero(label) == 0) label.setTo(kIgnore);
  }
  std::unique_ptr<eval::Metric> make_metric(const eval::MetricOptions& o) const override {
    eval::MetricOptions parts = o;
    parts.skip_empty_images = true;
    return eval::make_miou_metric(parts);
  }
};

}  // namespace

std::unique_ptr<Task> make_task_human_parts() { return std::make_unique<HumanParts>(); }

}  // namespace densemtl::tasks
