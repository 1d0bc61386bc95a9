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
  std::vector<std::string> class_names(const data::DatasetInfo& d) const override { return d.part_names; }
  std::string describe(const data::DatasetInfo& d) const override {
    return fmt::format("human_parts ({} parts + background)", d.part_names.empty() ? 0 : d.part_names.size() - 1);
  }
  void mark_ignore(cv::Mat& label) const override {
    if (cv::countNonZero(label) == 0) label.setTo(kIgnore);
  }
  std::unique_ptr<Metric> make_metric(const MetricContext& c) const override {
    return make_miou_metric(class_names(c.dataset), /*skip_empty_images=*/true);
  }
  std::vector<ReportColumn> report_columns() const override { return {{"mIoU", "Parts mIoU ↑", false, 2}}; }
};

}  // namespace

DENSEMTL_REGISTER(TaskEntry, {"human_parts", 20, [] { return std::make_unique<HumanParts>(); }});

}  // namespace densemtl::tasks
