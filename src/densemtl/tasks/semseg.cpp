// Semantic segmentation: one class index per pixel, 255 = ignore.
#include "densemtl/tasks/kinds.h"

namespace densemtl::tasks {

namespace {

class Semseg : public ClassMapTask {
 public:
  std::string name() const override { return "semseg"; }
  std::string title() const override { return "Semantic segmentation"; }
  std::vector<std::string> class_names(const data::DatasetInfo& d) const override { return d.class_names; }
  std::string describe(const data::DatasetInfo& d) const override { return fmt::format("semseg ({} classes)", d.class_names.size()); }
  std::vector<ReportColumn> report_columns() const override { return {{"mIoU", "Seg. mIoU ↑", false, 2}}; }
};

}  // namespace

DENSEMTL_REGISTER(TaskEntry, {"semseg", 10, [] { return std::make_unique<Semseg>(); }});

}  // namespace densemtl::tasks
