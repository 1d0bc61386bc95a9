#include "densemtl/report/report.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>

#include "densemtl/core/error.h"
#include "densemtl/core/log.h"
#include "densemtl/core/strings.h"
#include "densemtl/eval/trivial.h"
#include "densemtl/report/figures.h"
#include "densemtl/report/format.h"
#include "densemtl/report/results.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/train/run.h"

namespace densemtl::report {

namespace {

// Runs are compared (Δm, Pareto plots) within one dataset, backbone and width.
std::string group_key(const RunResult& r) { return r.dataset_root + "|" + r.backbone + "|" + fmt::format("{}", r.width); }

// A row of the report: a run with its Δm, or the trivial predictor.
struct Row {
  const RunResult* run = nullptr;
  std::optional<eval::DeltaM> delta;
  bool trivial = false;

  std::string model() const {
    if (trivial) return "constant";
    // The balancer, where it is not the fixed weights every reference row uses.
    return run->model_text() + (run->balancer.empty() || run->balancer == "fixed" ? "" : " + " + run->balancer);
  }
  std::string number(const char* key, double scale, int digits) const {
    const double v = run->number(key);
    return std::isnan(v) ? "–" : fmt::format("{:.{}f}", v * scale, digits);
  }
};

// The runs' tasks, canonical order.
std::vector<std::string> all_tasks(const std::vector<RunResult>& runs) {
  std::vector<std::string> names;
  for (const auto& r : runs) names.insert(names.end(), r.tasks.begin(), r.tasks.end());
  return tasks::canonical(names);
}

std::vector<Row> rows_with_deltas(const std::vector<RunResult>& runs, Baselines& baselines) {
  for (const auto& r : runs)
    if (r.single_task) baselines.add(group_key(r), r);
  std::vector<Row> rows;
  for (const auto& r : runs) rows.push_back({&r, r.single_task ? std::nullopt : baselines.delta(group_key(r), r), false});
  return rows;
}

// The trivial predictor (training-set constants) on the first run's dataset and test split.
std::optional<RunResult> trivial_result(const train::Run& first, const data::Dataset& dataset, const std::vector<std::string>& names) {
  RunResult t;
  t.name = "trivial predictor";
  t.tasks = names;
  std::vector<std::string> usable;
  for (const auto& task : names)
    if (dataset.info().has_task(task)) usable.push_back(task);
  const Experiment::Data& d = first.experiment.data;
  t.test = eval::trivial_baseline(dataset, dataset.ids(d.train_split), dataset.ids(d.test_split),
                                  tasks::TaskSet(usable, first.experiment.config.get()));
  return t;
}

// Runs of several datasets in one report: a Dataset column says which row is which.
std::string dataset_text(const RunResult& r) { return fs::path(r.dataset_root).filename().string(); }

bool several_datasets(const std::vector<RunResult>& runs) {
  for (const auto& r : runs)
    if (r.dataset_root != runs.front().dataset_root) return true;
  return false;
}

// Rows must be told apart: runs whose folders have the same name are named by their parent
// folders too ("a/run", "b/run").
void distinct_names(std::vector<RunResult>& runs) {
  std::map<std::string, int> count;
  for (const auto& r : runs) ++count[r.name];
  for (auto& r : runs)
    if (count[r.name] > 1) {
      const fs::path parent = fs::weakly_canonical(r.dir).parent_path();
      r.name = parent.filename().string() + "/" + r.name;
    }
  count.clear();
  for (const auto& r : runs)
    if (++count[r.name] > 1) fail("report: {} is given twice", r.dir.string());
}

Table main_table(const std::vector<Row>& rows, const std::vector<std::string>& names, bool with_dataset) {
  Table t;
  t.header = {"Run", "Model", "Backbone"};
  if (with_dataset) t.header.insert(t.header.begin() + 1, "Dataset");
  for (const auto& task : names)
    for (const auto& c : tasks::get(task).report_columns()) t.header.push_back(c.header);
  for (const char* h : {"Δm %", "Params (M)", "GFLOPs", "Train time", "Step (ms)", "Peak mem (MB)"}) t.header.push_back(h);
  for (const auto& row : rows) {
    const RunResult& r = *row.run;
    std::vector<std::string> cells = {r.name, row.model(), row.trivial ? "–" : r.backbone_text()};
    if (with_dataset) cells.insert(cells.begin() + 1, row.trivial ? dataset_text(*rows[1].run) : dataset_text(r));
    for (const auto& task : names)
      for (const auto& c : tasks::get(task).report_columns()) {
        const bool has = r.test.contains(task) && r.test[task].contains(c.metric) && r.test[task][c.metric].is_number();
        cells.push_back(has ? fmt::format("{:.{}f}", r.test[task][c.metric].get<double>(), c.digits) : "–");
      }
    cells.push_back(row.trivial ? "–" : delta_text(r, row.delta));
    cells.push_back(row.number("parameters.total", 1e-6, 3));
    cells.push_back(row.number("gflops_per_image", 1.0, 3));
    const double seconds = r.number("train_seconds");
    cells.push_back(std::isnan(seconds) ? "–" : format_duration(seconds));
    cells.push_back(row.number("ms_per_step", 1.0, 0));
    cells.push_back(row.number("peak_memory_mb", 1.0, 0));
    t.rows.push_back(cells);
  }
  return t;
}

// Every metric of `task` (counts left out), one row per run that has it.
Table metrics_table(const std::vector<Row>& rows, const std::string& task) {
  Table t;
  t.header = {"Run"};
  for (const auto& row : rows)
    if (row.run->test.contains(task))
      for (const auto& [k, v] : scalar_metrics(row.run->test[task]))
        if (std::find(t.header.begin() + 1, t.header.end(), k) == t.header.end()) t.header.push_back(k);
  for (const auto& row : rows) {
    if (!row.run->test.contains(task)) continue;
    std::vector<std::string> cells = {row.run->name};
    const auto& m = row.run->test[task];
    for (std::size_t i = 1; i < t.header.size(); ++i)
      cells.push_back(m.contains(t.header[i]) && m[t.header[i]].is_number() ? fmt::format("{:.4g}", m[t.header[i]].get<double>()) : "–");
    t.rows.push_back(cells);
  }
  return t;
}

// report.csv: every number of every row, full precision.
Table csv_table(const std::vector<Row>& rows) {
  std::vector<std::string> metric_columns;  // task.metric, every numeric entry
  for (const auto& row : rows)
    for (const auto& [t, m] : row.run->test.items())
      for (const auto& [k, v] : m.items())
        if (v.is_number() && std::find(metric_columns.begin(), metric_columns.end(), t + "." + k) == metric_columns.end())
          metric_columns.push_back(t + "." + k);
  Table t;
  t.header = {"run", "model", "backbone", "width", "tasks"};
  t.header.insert(t.header.end(), metric_columns.begin(), metric_columns.end());
  for (const char* h : {"delta_m_percent", "parameters", "gflops_per_image", "train_seconds", "ms_per_step", "peak_memory_mb"})
    t.header.push_back(h);
  auto full = [](double v) { return std::isnan(v) ? std::string() : fmt::format("{}", v); };
  for (const auto& row : rows) {
    const RunResult& r = *row.run;
    std::vector<std::string> f = {r.name, row.model(), row.trivial ? "" : r.backbone, row.trivial ? "" : fmt::format("{:g}", r.width),
                                  join(r.tasks, " ")};
    for (const auto& c : metric_columns) {
      const auto dot = c.find('.');
      const std::string task = c.substr(0, dot), k = c.substr(dot + 1);
      f.push_back(r.test.contains(task) && r.test[task].contains(k) && r.test[task][k].is_number()
                      ? fmt::format("{}", r.test[task][k].get<double>())
                      : "");
    }
    f.push_back(r.single_task ? "0" : row.delta && row.delta->complete() ? fmt::format("{}", 100 * row.delta->value) : "");
    const double params = r.number("parameters.total");
    f.push_back(std::isnan(params) ? "" : fmt::format("{}", static_cast<std::int64_t>(params)));
    for (const char* k : {"gflops_per_image", "train_seconds", "ms_per_step", "peak_memory_mb"}) f.push_back(full(r.number(k)));
    t.rows.push_back(f);
  }
  return t;
}

// Δm and cost of each multi-task run with a complete Δm.
std::vector<Tradeoff> multi_task_points(const std::vector<Row>& rows) {
  std::vector<Tradeoff> out;
  for (const auto& row : rows)
    if (!row.trivial && !row.run->single_task && row.delta && row.delta->complete())
      out.push_back({row.run->name, 100 * row.delta->value, 0, row.run->number("gflops_per_image"),
                     row.run->number("parameters.total")});
  return out;
}

// Each group's single-task networks together: Δm 0 at their summed cost.
std::vector<Tradeoff> single_task_points(const std::vector<Row>& rows) {
  std::map<std::string, Tradeoff> groups;
  for (const auto& row : rows) {
    if (row.trivial || !row.run->single_task) continue;
    Tradeoff& s = groups[group_key(*row.run)];
    s.label = "single-task networks (" + row.run->backbone_text() + ")";
    s.gflops += row.run->number("gflops_per_image");
    s.parameters += row.run->number("parameters.total");
  }
  std::vector<Tradeoff> out;
  for (const auto& [group, s] : groups)
    if (!std::isnan(s.gflops) && !std::isnan(s.parameters)) out.push_back(s);
  return out;
}

Figures draw_figures(const ReportOptions& o, const std::vector<Row>& rows, const std::vector<std::string>& names,
                     const data::Dataset* dataset, const train::Run& first) {
  Figures figures;
  std::vector<Labelled> runs;
  std::vector<MosaicRow> mosaic_rows;
  for (const auto& row : rows)
    if (!row.trivial) {
      runs.push_back({row.run->name, row.run});
      mosaic_rows.push_back({row.run->name, row.run->dir / "predictions" / row.run->test_split, row.run->tasks});
    }
  const std::string title = "these runs";
  loss_figures(figures, o.out / "curves" / "losses", title, runs, names);
  std::vector<Tradeoff> points = multi_task_points(rows);
  delta_chart(figures, o.out / "figures" / "delta_m.png", title, points);
  if (!points.empty()) {
    for (const auto& s : single_task_points(rows)) points.push_back(s);
    pareto_figures(figures, o.out / "figures", title, points);
  }
  pr_figures(figures, o.out / "figures", title, runs, names);
  for (const auto& t : names) {
    std::vector<ClassScores> scores;
    for (const auto& r : runs)
      if (r.run->test.contains(t))
        if (auto v = tasks::get(t).per_class(r.run->test[t]); !v.empty()) scores.push_back({r.label, v});
    per_class_figure(figures, o.out / "figures", title, t, scores);
  }
  if (dataset && o.mosaics > 0)
    prediction_mosaics(figures, o.out / "mosaics" / "test_", "ground truth (first row) and each run's predictions", *dataset,
                       first.experiment.data.test_split, o.mosaics, names, mosaic_rows);
  return figures;
}

}  // namespace

std::string write_report(const ReportOptions& o) {
  if (o.runs.empty()) fail("report: no run folders given");
  std::vector<RunResult> runs;
  for (const auto& r : o.runs) runs.push_back(read_run(r));
  distinct_names(runs);
  const bool with_dataset = several_datasets(runs);
  fs::create_directories(o.out);
  Baselines baselines;
  std::vector<Row> rows = rows_with_deltas(runs, baselines);
  const std::vector<std::string> names = all_tasks(runs);

  const train::Run first = train::open_run(runs.front().dir);
  std::unique_ptr<data::Dataset> dataset;
  try {
    dataset = first.experiment.open_dataset();
  } catch (const Error& e) {
    log_warn("report: {} (no trivial-predictor row, no mosaics)", e.what());
  }
  std::optional<RunResult> trivial;
  if (o.trivial && dataset) {
    trivial = trivial_result(first, *dataset, names);
    rows.insert(rows.begin(), Row{&*trivial, std::nullopt, true});
  }

  const Table main = main_table(rows, names, with_dataset);
  Page page("densemtl report");
  page.paragraph(fmt::format(
      "{} run(s). Test-split metrics of each run's final model; Δm (%) of multi-task runs against the single-task runs listed "
      "here with the same dataset, backbone and width (survey Eq. 10: semseg/parts/saliency mIoU, normals mean error, edge odsF, "
      "depth RMSE). The trivial predictor predicts training-set constants (majority class, mean depth, mean normal).",
      runs.size()));
  if (with_dataset)
    page.paragraph("These runs come from more than one dataset (the Dataset column): their metrics are not comparable across "
                   "datasets, and Δm compares each run only with single-task runs of its own dataset. The trivial predictor "
                   "row is on the first run's dataset.");
  page.table(main);
  // Metrics of nothing are said, not shown as numbers.
  std::vector<std::string> empty;
  for (const auto& r : runs)
    for (const auto& t : r.tasks)
      if (r.test.contains(t) && r.test[t].contains("images") && r.test[t]["images"] == 0) empty.push_back(r.name + ": " + t);
  if (!empty.empty())
    page.paragraph("Scored on no test image with a valid label (no metric): " + join(empty, "; ") + ".");
  page.heading("All metrics");
  for (const auto& t : names) {
    const Table details = metrics_table(rows, t);
    if (details.header.size() < 2) continue;
    page.heading(tasks::get(t).title(), 3);
    page.table(details);
  }
  const Figures figures = draw_figures(o, rows, names, dataset.get(), first);
  if (!figures.problems.empty()) log_warn("report: some figures are missing ({})", figures.problems.front());
  page.heading("Figures");
  for (const auto& f : figures.list) page.figure(f);
  page.write(o.out / "report");
  write_file_atomic(o.out / "report.csv", csv_table(rows).csv());
  return main.markdown();
}

}  // namespace densemtl::report
