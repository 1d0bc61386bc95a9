// Boundary detection: a binary boundary map, predicted as one logit per pixel, scored with the
// native BSDS/SEISM evaluation (odsF, oisF, AP). Options (tasks.edge.*): the positive weight of
// the balanced loss, the matching tolerance and the number of thresholds.
#include "densemtl/tasks/kinds.h"

namespace densemtl::tasks {

namespace {

class Edge : public BinaryMapTask {
 public:
  std::string name() const override { return "edge"; }
  std::string title() const override { return "Boundaries"; }

  std::vector<config::Spec> option_specs() const override {
    using namespace config;
    return {
        exclusive_min(real("pos_weight", 0.95, 0.0, 1.0, "Weight of boundary pixels in the balanced edge loss (the reference: 0.95)")),
        real("max_dist", 0.0, 0.0, 1.0, "Boundary matching tolerance as a fraction of the diagonal; 0 = the dataset's (NYUD 0.011, PASCAL 0.0075)"),
        integer("thresholds", 99, 1, 1000, "Thresholds for boundary odsF/oisF/AP"),
    };
  }
  void configure(const config::View& o) override {
    pos_weight_ = o.get_float("pos_weight");
    max_dist_ = o.get_float("max_dist");
    thresholds_ = static_cast<int>(o.get_int("thresholds"));
  }

  // Balanced BCE with a fixed positive weight.
  at::Tensor loss(const at::Tensor& out, const at::Tensor& label) const override {
    return balanced_bce_loss(out, label, pos_weight_);
  }
  std::unique_ptr<Metric> make_metric(const MetricContext& c) const override {
    return make_boundary_metric({max_dist_ > 0 ? max_dist_ : c.dataset.edge_max_dist, thresholds_, c.threads});
  }
  std::string delta_metric() const override { return "odsF"; }
  std::vector<ReportColumn> report_columns() const override { return {{"odsF", "Edge odsF ↑", false, 2}}; }
  // The BSDS-style curve the boundary metric stores (fractions) and its ODS point (percent there).
  std::optional<PrCurve> pr_curve(const OrderedJson& m) const override {
    if (!m.contains("curve") || !m["curve"].contains("recall") || !m["curve"].contains("precision")) return std::nullopt;
    PrCurve c;
    const auto &rs = m["curve"]["recall"], &ps = m["curve"]["precision"];
    for (std::size_t i = 0; i < rs.size() && i < ps.size(); ++i)
      if (rs[i].is_number() && ps[i].is_number()) {
        c.recall.push_back(rs[i].get<double>());
        c.precision.push_back(ps[i].get<double>());
      }
    auto fraction = [&](const char* k) { return m.contains(k) && m[k].is_number() ? m[k].get<double>() / 100 : 0.0; };
    c.ods_r = fraction("odsR");
    c.ods_p = fraction("odsP");
    c.ods_f = fraction("odsF");
    if (c.recall.empty()) return std::nullopt;
    return c;
  }

 private:
  double pos_weight_ = 0.95, max_dist_ = 0.0;
  int thresholds_ = 99;
};

}  // namespace

DENSEMTL_REGISTER(TaskEntry, {"edge", 50, [] { return std::make_unique<Edge>(); }});

}  // namespace densemtl::tasks
