#include "densemtl/suite/tables.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <set>

#include "densemtl/core/config.h"
#include "densemtl/core/error.h"
#include "densemtl/core/json.h"
#include "densemtl/core/log.h"
#include "densemtl/core/strings.h"
#include "densemtl/eval/delta_m.h"
#include "densemtl/eval/evaluator.h"
#include "densemtl/models/architectures/architecture.h"
#include "densemtl/report/format.h"
#include "densemtl/report/mosaic.h"
#include "densemtl/report/plots.h"
#include "densemtl/suite/runner.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/train/experiment.h"
#include "densemtl/vision/io/image.h"

namespace densemtl::suite {

namespace {

using report::TableRows;

struct Result {
  const Cell* cell = nullptr;
  OrderedJson test = OrderedJson::object(), val = OrderedJson::object();
  Json summary = Json::object();
  std::vector<Json> log;
  fs::path run;
};

Result load_result(const Cell& c, const fs::path& out) {
  Result r;
  r.cell = &c;
  r.run = Benchmark::run_dir(out, c.name);
  r.summary = read_json(r.run / "run.json");
  if (fs::exists(r.run / "metrics.json")) r.test = OrderedJson::parse(read_file(r.run / "metrics.json"));
  else if (r.summary.contains("test_metrics")) r.test = OrderedJson::parse(r.summary["test_metrics"].dump());
  if (r.summary.contains("val_metrics")) r.val = OrderedJson::parse(r.summary["val_metrics"].dump());
  std::ifstream in(r.run / "log.jsonl");
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) r.log.push_back(Json::parse(line));
  return r;
}

// Values over seeds.
struct Stat {
  std::vector<double> values;
  void add(double v) { values.push_back(v); }
  bool empty() const { return values.empty(); }
  double mean() const {
    double s = 0;
    for (double v : values) s += v;
    return values.empty() ? NAN : s / static_cast<double>(values.size());
  }
  // Sample standard deviation (n - 1); NaN below two values.
  double std() const {
    if (values.size() < 2) return NAN;
    const double m = mean();
    double s = 0;
    for (double v : values) s += (v - m) * (v - m);
    return std::sqrt(s / static_cast<double>(values.size() - 1));
  }
  Json json() const {
    Json j;
    j["mean"] = empty() ? Json(nullptr) : Json(mean());
    j["std"] = std::isnan(std()) ? Json(nullptr) : Json(std());
    j["values"] = values;
    return j;
  }
};

// |a - b| <= std(a) + std(b): the difference is within the seed spread.
bool within_spread(const Stat& a, const Stat& b) {
  if (a.values.size() < 2 || b.values.size() < 2) return false;
  return std::abs(a.mean() - b.mean()) <= a.std() + b.std();
}

std::string show(const Stat& s, int digits, double scale = 1) {
  if (s.empty()) return "–";
  std::string text = fmt::format("{:.{}f}", s.mean() * scale, digits);
  if (!std::isnan(s.std())) text += fmt::format(" ± {:.{}f}", s.std() * scale, digits);
  return text;
}

struct Row {
  std::string key, group, architecture, balancer;
  std::string model;  // the table's Model column
  std::string label;  // the model and, when not fixed weights, its balancer (figures)
  bool single_task = false;
  std::vector<std::string> tasks;
  std::vector<const Cell*> cells;
  std::map<std::uint64_t, std::vector<const Result*>> seeds;  // finished cells per seed
  std::map<std::string, std::map<std::string, Stat>> metrics; // task -> metric -> over seeds
  std::map<std::string, std::map<std::string, Stat>> per_class;  // task -> class -> IoU over seeds
  Stat delta, val_delta, params, gflops, train_seconds, ms_per_step, peak_mb;
  std::map<std::uint64_t, double> val_delta_by_seed;
  int finished = 0;
};

std::string balancer_text(const std::string& b) { return b == "fixed" ? "fixed weights" : b; }

std::string architecture_text(const std::string& a) {
  const models::ArchitectureEntry& e = models::architecture_entry(a);
  return e.label.empty() ? e.name : e.label;
}

std::vector<report::Series> loss_series(const std::vector<const Row*>& rows, const std::string& task) {
  std::vector<report::Series> out;
  for (const Row* r : rows) {
    if (r->seeds.empty()) continue;
    const Result* first = nullptr;
    for (const Result* x : r->seeds.begin()->second)
      if (std::find(x->cell->tasks.begin(), x->cell->tasks.end(), task) != x->cell->tasks.end()) first = x;
    if (!first) continue;
    report::Series s{r->label + " (seed " + std::to_string(r->seeds.begin()->first) + ")", {}, {}, false, 0};
    for (const auto& l : first->log)
      if (l.contains("val_loss") && l["val_loss"].contains(task) && l["val_loss"][task].is_number()) {
        s.x.push_back(l["epoch"].get<double>());
        s.y.push_back(l["val_loss"][task].get<double>());
      }
    if (!s.x.empty()) out.push_back(s);
  }
  return out;
}

}  // namespace

std::string write_tables(const Benchmark& b, const fs::path& out, const TablesOptions& o) {
  FileLock lock = FileLock::wait(out / "results.lock");  // one writer at a time
  std::vector<Result> results;
  results.reserve(b.cells.size());
  for (const auto& c : b.cells)
    if (cell_finished(out, c.name)) results.push_back(load_result(c, out));

  // Rows, in the benchmark's order (single-task first within each group).
  std::vector<Row> rows;
  std::map<std::string, std::size_t> index;
  for (const auto& c : b.cells) {
    const std::string key = c.row();
    if (!index.count(key)) {
      Row r;
      r.key = key;
      r.group = c.group;
      r.architecture = c.architecture;
      r.balancer = c.balancer;
      r.single_task = c.single_task();
      r.model = r.single_task ? "single-task" : architecture_text(c.architecture);
      r.label = r.model + (r.single_task || c.balancer == "fixed" ? "" : " + " + c.balancer);
      index[key] = rows.size();
      rows.push_back(r);
    }
    Row& r = rows[index[key]];
    r.cells.push_back(&c);
    for (const auto& t : c.tasks)
      if (std::find(r.tasks.begin(), r.tasks.end(), t) == r.tasks.end()) r.tasks.push_back(t);
    r.tasks = tasks::canonical(r.tasks);
  }
  for (const auto& res : results) rows[index[res.cell->row()]].seeds[res.cell->seed].push_back(&res);

  // The single-task baselines per group, task and seed (test and validation metrics).
  std::map<std::string, std::map<std::uint64_t, std::map<std::string, OrderedJson>>> st_test, st_val;
  for (const auto& res : results)
    if (res.cell->single_task()) {
      st_test[res.cell->group][res.cell->seed][res.cell->task] = res.test;
      st_val[res.cell->group][res.cell->seed][res.cell->task] = res.val;
    }

  for (auto& r : rows) {
    for (const auto& [seed, list] : r.seeds) {
      r.finished += static_cast<int>(list.size());
      // A single-task row's seed counts once all its tasks have finished.
      if (r.single_task && list.size() < r.tasks.size()) continue;
      double params = 0, gflops = 0, seconds = 0, ms = 0, peak = 0;
      for (const Result* x : list) {
        for (const auto& t : x->cell->tasks) {
          if (!x->test.contains(t)) continue;
          for (const auto& [k, v] : x->test[t].items()) {
            if (v.is_number() && k != "images" && k != "pixels" && k != "thresholds") r.metrics[t][k].add(v.get<double>());
            if (k == "per_class_IoU" && v.is_object())
              for (const auto& [cls, iou] : v.items())
                if (iou.is_number()) r.per_class[t][cls].add(iou.get<double>());
          }
        }
        const Json& s = x->summary;
        auto number = [&](const char* key) { return s.contains(key) && s[key].is_number() ? s[key].get<double>() : 0.0; };
        if (s.contains("parameters")) params += s["parameters"]["total"].get<double>();
        gflops += number("gflops_per_image");
        seconds += number("train_seconds");
        ms += number("ms_per_step");
        peak = std::max(peak, number("peak_memory_mb"));
      }
      r.params.add(params);
      r.gflops.add(gflops);
      r.train_seconds.add(seconds);
      r.ms_per_step.add(ms);
      r.peak_mb.add(peak);
      if (r.single_task) continue;
      const Result* x = list.front();
      auto base = st_test[r.group][seed], base_val = st_val[r.group][seed];
      eval::DeltaM d = eval::delta_m(x->test, base, x->cell->tasks);
      if (d.complete()) r.delta.add(100 * d.value);
      eval::DeltaM dv = eval::delta_m(x->val, base_val, x->cell->tasks);
      if (dv.complete()) {
        r.val_delta.add(100 * dv.value);
        r.val_delta_by_seed[seed] = 100 * dv.value;
      }
    }
  }

  fs::create_directories(out / "figures");
  std::string md = "# " + b.name + "\n\n";
  if (!b.description.empty()) md += trim(b.description) + "\n\n";
  const std::string legend = fmt::format(
      "Seeds {}. Test-split metrics of each cell's model chosen on the validation split, as mean ± standard deviation "
      "(n − 1) over seeds. Δm (%, survey Eq. 10: semseg/parts/saliency mIoU, normals mean error, boundary odsF, depth "
      "RMSE) against the single-task runs of the same backbone group and seed, then mean ± std. † marks a value whose "
      "difference to the single-task row (for Δm: to 0) is within the seed spread (|difference| ≤ the two standard "
      "deviations added): not a finding. GFLOPs: densemtl's count, 2 × multiply-accumulates of convolutions and linear "
      "layers per image at the input size; Survey GFLOPs: the survey's convention, a quarter of it (half the MACs). "
      "The single-task row adds up its networks' parameters, FLOPs and training times. Peak memory: resident, per "
      "training process.",
      join([&] {
        std::vector<std::string> s;
        for (auto v : b.seeds) s.push_back(std::to_string(v));
        return s;
      }(), ", "));
  md += legend + "\n";
  std::string html = report::html_page_start(b.name);
  if (!b.description.empty()) html += "<p>" + report::html_escape(trim(b.description)) + "</p>";
  html += "<p>" + report::html_escape(legend) + "</p>";

  Json json;
  json["name"] = b.name;
  json["protocol_file"] = b.protocol_file.string();
  json["grid_file"] = b.grid_file.string();
  json["seeds"] = b.seeds;
  json["groups"] = Json::array();
  std::string csv = "group,model,balancer,seeds_finished,cells";
  std::vector<std::string> csv_metrics;  // task.metric over every row
  for (const auto& r : rows)
    for (const auto& [t, ms] : r.metrics)
      for (const auto& [k, s] : ms)
        if (std::find(csv_metrics.begin(), csv_metrics.end(), t + "." + k) == csv_metrics.end()) csv_metrics.push_back(t + "." + k);
  for (const auto& m : csv_metrics) csv += "," + report::csv_field(m) + "," + report::csv_field(m + ".std");
  csv += ",delta_m_percent,delta_m_percent.std,parameters,gflops_per_image,survey_gflops,train_seconds,peak_memory_mb\n";

  std::vector<std::string> figure_errors;
  for (const auto& group : b.groups) {
    std::vector<const Row*> g;
    for (const auto& r : rows)
      if (r.group == group) g.push_back(&r);
    if (g.empty()) continue;
    const Row* st = g.front()->single_task ? g.front() : nullptr;
    std::vector<std::string> group_tasks;
    for (const Row* r : g) group_tasks.insert(group_tasks.end(), r->tasks.begin(), r->tasks.end());
    group_tasks = tasks::canonical(group_tasks);
    std::string backbone;
    for (const Row* r : g)
      if (!r->cells.empty()) {
        config::Config c = config::Config::parse(experiment_schema(), r->cells.front()->config, r->cells.front()->name);
        const double width = c.get_float("model.width");
        backbone = c.get_string("backbone.name") + (width == 1.0 ? "" : fmt::format(" ×{:g}", width));
        break;
      }

    // The table.
    std::vector<std::string> header = {"Model", "Balancer", "Seeds"};
    struct Col {
      std::string task;
      tasks::ReportColumn c;
    };
    std::vector<Col> cols;
    for (const auto& t : group_tasks)
      for (const auto& c : tasks::get(t).report_columns()) cols.push_back({t, c});
    for (const auto& c : cols) header.push_back(c.c.header);
    for (const char* h : {"Δm %", "Params (M)", "GFLOPs", "Survey GFLOPs", "Train time", "Peak mem (MB)"}) header.push_back(h);
    TableRows table;
    Json jg;
    jg["group"] = group;
    jg["backbone"] = backbone;
    jg["rows"] = Json::array();
    for (const Row* r : g) {
      std::vector<std::string> row = {r->model, r->single_task ? "–" : balancer_text(r->balancer)};
      const int complete = static_cast<int>(r->params.values.size());
      row.push_back(fmt::format("{}/{}", complete, b.seeds.size()));
      for (const auto& c : cols) {
        auto ti = r->metrics.find(c.task);
        if (std::find(r->tasks.begin(), r->tasks.end(), c.task) == r->tasks.end() || ti == r->metrics.end() ||
            !ti->second.count(c.c.metric)) {
          row.push_back("–");
          continue;
        }
        const Stat& s = ti->second.at(c.c.metric);
        std::string text = show(s, c.c.digits);
        if (st && r != st && st->metrics.count(c.task) && st->metrics.at(c.task).count(c.c.metric) &&
            within_spread(s, st->metrics.at(c.task).at(c.c.metric)))
          text += " †";
        row.push_back(text);
      }
      if (r->single_task) row.push_back("+0.00 (baseline)");
      else if (r->delta.empty()) row.push_back("–");
      else {
        std::string text = show(r->delta, 2);
        if (text[0] != '-') text = "+" + text;
        if (r->delta.values.size() >= 2 && std::abs(r->delta.mean()) <= r->delta.std()) text += " †";
        row.push_back(text);
      }
      // Parameters and FLOPs do not depend on the seed.
      auto fixed = [](const Stat& s, double scale) { return s.empty() ? std::string("–") : fmt::format("{:.3f}", s.mean() * scale); };
      row.push_back(fixed(r->params, 1e-6));
      row.push_back(fixed(r->gflops, 1));
      row.push_back(fixed(r->gflops, 0.25));
      row.push_back(r->train_seconds.empty() ? "–" : format_duration(r->train_seconds.mean()));
      row.push_back(r->peak_mb.empty() ? "–" : fmt::format("{:.0f}", r->peak_mb.mean()));
      table.push_back(row);

      Json jr;
      jr["row"] = r->key;
      jr["model"] = r->model;
      jr["architecture"] = r->architecture;
      jr["balancer"] = r->single_task ? Json(nullptr) : Json(r->balancer);
      jr["tasks"] = r->tasks;
      std::vector<std::string> names;
      for (const Cell* c : r->cells) names.push_back(c->name);
      jr["cells"] = names;
      jr["seeds_finished"] = complete;
      Json jm = Json::object();
      for (const auto& [t, ms] : r->metrics)
        for (const auto& [k, s] : ms) jm[t][k] = s.json();
      jr["metrics"] = jm;
      jr["delta_m_percent"] = r->single_task ? Json(nullptr) : r->delta.json();
      jr["validation_delta_m_percent"] = r->single_task ? Json(nullptr) : r->val_delta.json();
      jr["parameters"] = r->params.json();
      jr["gflops_per_image"] = r->gflops.json();
      jr["survey_gflops"] = r->gflops.empty() ? Json(nullptr) : Json(0.25 * r->gflops.mean());
      jr["train_seconds"] = r->train_seconds.json();
      jr["ms_per_step"] = r->ms_per_step.json();
      jr["peak_memory_mb"] = r->peak_mb.json();
      jg["rows"].push_back(jr);

      std::vector<std::string> f = {report::csv_field(group), report::csv_field(r->model),
                                    r->single_task ? "" : report::csv_field(r->balancer), std::to_string(complete),
                                    report::csv_field(join(names, " "))};
      auto num = [](double v) { return std::isnan(v) ? std::string() : fmt::format("{}", v); };
      for (const auto& m : csv_metrics) {
        const auto dot = m.find('.');
        const std::string t = m.substr(0, dot), k = m.substr(dot + 1);
        const Stat* s = r->metrics.count(t) && r->metrics.at(t).count(k) ? &r->metrics.at(t).at(k) : nullptr;
        f.push_back(s ? num(s->mean()) : "");
        f.push_back(s ? num(s->std()) : "");
      }
      f.push_back(r->single_task ? "0" : num(r->delta.mean()));
      f.push_back(r->single_task ? "" : num(r->delta.std()));
      f.push_back(num(r->params.mean()));
      f.push_back(num(r->gflops.mean()));
      f.push_back(r->gflops.empty() ? "" : num(0.25 * r->gflops.mean()));
      f.push_back(num(r->train_seconds.mean()));
      f.push_back(num(r->peak_mb.mean()));
      csv += join(f, ",") + "\n";
    }
    const std::string title = fmt::format("{} ({})", group, backbone);
    md += "\n## " + title + "\n\n" + report::markdown_table(header, table);
    html += "<h2>" + report::html_escape(title) + "</h2>" + report::html_table(header, table);

    // Figures.
    std::vector<std::pair<std::string, fs::path>> figures;
    std::string err;
    auto figure = [&](bool ok, const std::string& caption, const fs::path& png) {
      if (ok) figures.emplace_back(caption, png);
      else figure_errors.push_back(err);
    };
    const fs::path dir = out / "figures" / group;
    if (o.figures) {
      // Pareto plots.
      std::vector<report::Point> by_flops, by_params;
      for (const Row* r : g) {
        if (r->params.empty() || (!r->single_task && r->delta.empty())) continue;
        const double d = r->single_task ? 0.0 : r->delta.mean();
        const double e = r->single_task || std::isnan(r->delta.std()) ? 0.0 : r->delta.std();
        by_flops.push_back({r->label, r->gflops.mean(), d, e});
        by_params.push_back({r->label, r->params.mean() * 1e-6, d, e});
      }
      if (by_flops.size() >= 2) {
        report::PlotOptions po;
        po.title = "Δm against FLOPs, " + title;
        po.xlabel = "GFLOPs per image (densemtl, 2 × MAC)";
        po.ylabel = "Δm (%)";
        po.log_x = true;
        po.width = 900;
        po.height = 600;
        figure(report::scatter_plot(dir / "pareto_flops.png", by_flops, po, true, &err), "Δm against FLOPs per image (" + title + ")",
               dir / "pareto_flops.png");
        po.title = "Δm against parameters, " + title;
        po.xlabel = "parameters (M)";
        figure(report::scatter_plot(dir / "pareto_params.png", by_params, po, true, &err),
               "Δm against parameters (" + title + ")", dir / "pareto_params.png");
      }
      // Boundary precision-recall curves: the first seed of each row, ten rows a plot.
      std::vector<report::PrCurve> curves;
      for (const Row* r : g) {
        if (std::find(r->tasks.begin(), r->tasks.end(), "edge") == r->tasks.end() || r->seeds.empty()) continue;
        for (const Result* x : r->seeds.begin()->second) {
          if (!x->test.contains("edge") || !x->test["edge"].contains("curve")) continue;
          const auto& e = x->test["edge"];
          report::PrCurve c;
          c.name = r->label;
          const auto &rs = e["curve"]["recall"], &ps = e["curve"]["precision"];
          for (std::size_t i = 0; i < rs.size() && i < ps.size(); ++i)
            if (rs[i].is_number() && ps[i].is_number()) {
              c.recall.push_back(rs[i].get<double>());
              c.precision.push_back(ps[i].get<double>());
            }
          auto pct = [&](const char* k) { return e.contains(k) && e[k].is_number() ? e[k].get<double>() / 100 : 0.0; };
          c.ods_r = pct("odsR");
          c.ods_p = pct("odsP");
          c.ods_f = pct("odsF");
          if (!c.recall.empty()) curves.push_back(c);
        }
      }
      for (std::size_t k = 0; k < curves.size(); k += 10) {
        std::vector<report::PrCurve> part(curves.begin() + static_cast<long>(k),
                                          curves.begin() + static_cast<long>(std::min(curves.size(), k + 10)));
        report::PlotOptions po;
        po.title = "Boundaries, " + title;
        po.xlabel = "recall";
        po.ylabel = "precision";
        po.width = 900;
        po.height = 620;
        const fs::path png = dir / fmt::format("boundary_pr_{}.png", k / 10);
        figure(report::pr_plot(png, part, po, &err),
               "Boundary precision-recall curves, first seed of each row; the dot is the ODS point, grey lines are iso-F (" +
                   title + ")",
               png);
      }
      // Per-class IoU.
      for (const std::string t : {"semseg", "human_parts"}) {
        std::vector<std::string> names, classes;
        std::vector<std::vector<double>> values;
        for (const Row* r : g)
          if (r->per_class.count(t))
            for (const auto& [cls, s] : r->per_class.at(t))
              if (std::find(classes.begin(), classes.end(), cls) == classes.end()) classes.push_back(cls);
        // Classes in the metrics' order (the dataset's), not alphabetical.
        bool ordered = false;
        for (const Row* r : g) {
          if (r->seeds.empty() || ordered) continue;
          for (const Result* x : r->seeds.begin()->second)
            if (!ordered && x->test.contains(t) && x->test[t].contains("per_class_IoU")) {
              classes.clear();
              for (const auto& [cls, v] : x->test[t]["per_class_IoU"].items()) classes.push_back(cls);
              ordered = true;
            }
        }
        for (const Row* r : g) {
          if (!r->per_class.count(t)) continue;
          names.push_back(r->label);
          std::vector<double> v;
          for (const auto& cls : classes) v.push_back(r->per_class.at(t).count(cls) ? r->per_class.at(t).at(cls).mean() : NAN);
          values.push_back(v);
        }
        if (names.empty()) continue;
        report::PlotOptions po;
        po.title = tasks::get(t).title() + ": IoU per class (%, mean over seeds), " + title;
        po.width = std::max(700, 60 * static_cast<int>(classes.size()) + 300);
        po.height = std::max(300, 22 * static_cast<int>(names.size()) + 200);
        const fs::path png = dir / ("iou_" + t + ".png");
        figure(report::heatmap(png, names, classes, values, po, &err), tasks::get(t).title() + ": IoU per class (" + title + ")", png);
      }
      // Validation losses, overlaid per task, ten rows a plot.
      for (const auto& t : group_tasks) {
        std::vector<const Row*> with;
        for (const Row* r : g)
          if (std::find(r->tasks.begin(), r->tasks.end(), t) != r->tasks.end()) with.push_back(r);
        for (std::size_t k = 0; k < with.size(); k += 10) {
          std::vector<const Row*> part(with.begin() + static_cast<long>(k), with.begin() + static_cast<long>(std::min(with.size(), k + 10)));
          std::vector<report::Series> series = loss_series(part, t);
          if (series.empty()) continue;
          report::PlotOptions po;
          po.title = tasks::get(t).title() + ": validation loss, " + title;
          po.xlabel = "epoch";
          po.ylabel = "loss";
          po.log_y = true;
          po.width = 900;
          const fs::path png = dir / fmt::format("loss_{}_{}.png", t, k / 10);
          figure(report::line_plot(png, series, po, &err), tasks::get(t).title() + ": validation loss per epoch, first seed of each row (" + title + ")", png);
        }
      }
      // Mosaics: each architecture's best cell on validation Δm.
      if (o.mosaics > 0) {
        std::map<std::string, std::pair<double, const Result*>> best;
        std::vector<std::string> order;
        for (const Row* r : g) {
          if (r->single_task) continue;
          for (const auto& [seed, list] : r->seeds) {
            // Without a validation Δm (a zero single-task metric), the first finished cell.
            auto it = r->val_delta_by_seed.find(seed);
            const double score = it == r->val_delta_by_seed.end() ? -std::numeric_limits<double>::infinity() : it->second;
            if (!best.count(r->architecture)) {
              order.push_back(r->architecture);
              best[r->architecture] = {score, list.front()};
            } else if (score > best[r->architecture].first) {
              best[r->architecture] = {score, list.front()};
            }
          }
        }
        if (!best.empty()) try {
            const Result* any = best.begin()->second.second;
            Experiment x = Experiment::from(config::Config::parse(experiment_schema(), any->cell->config, any->cell->name));
            std::unique_ptr<data::Dataset> dataset = x.open_dataset();
            std::vector<std::string> ids = dataset->ids(x.data.test_split);
            for (int i = 0; i < o.mosaics && i < static_cast<int>(ids.size()); ++i) {
              const std::string& id = ids[static_cast<std::size_t>(i)];
              std::vector<std::string> available;
              for (const auto& t : group_tasks)
                if (dataset->info().has_task(t)) available.push_back(t);
              data::Sample s = dataset->load(id, available);
              cv::Mat blank(s.image.size(), CV_8UC3, cv::Scalar::all(255));
              std::vector<report::Tile> tiles = {{"input", report::to_rgb8(s.image)}};
              for (const auto& t : group_tasks)
                tiles.emplace_back(t + " truth", s.has(t) ? tasks::get(t).draw(s.labels.at(t), dataset->info()) : blank);
              for (const auto& a : order) {
                const Result* res = best[a].second;
                const double v = best[a].first;
                tiles.emplace_back(std::isfinite(v) ? fmt::format("{} ({}, val Δm {:+.2f})", res->cell->name, architecture_text(a), v)
                                                    : fmt::format("{} ({})", res->cell->name, architecture_text(a)),
                                   blank);
                for (const auto& t : group_tasks) {
                  fs::path file = eval::prediction_path(res->run / "predictions" / x.data.test_split, t, id);
                  if (std::find(res->cell->tasks.begin(), res->cell->tasks.end(), t) == res->cell->tasks.end() || !fs::exists(file)) {
                    tiles.emplace_back("", blank);
                    continue;
                  }
                  const tasks::Task& task = tasks::get(t);
                  const cv::Mat* ref = s.has(t) ? &s.labels.at(t) : nullptr;
                  tiles.emplace_back(t, task.draw(task.decode_prediction(task.read_prediction(file)), dataset->info(), ref));
                }
              }
              const fs::path png = dir / fmt::format("mosaic_{}.png", i);
              image::write_rgb(png, report::mosaic(tiles, static_cast<int>(group_tasks.size()) + 1));
              figures.emplace_back("Test image " + id + ": ground truth (first row), then each architecture's best cell on validation Δm (" +
                                       title + ")",
                                   png);
            }
          } catch (const Error& e) {
            log_warn("benchmark tables: no mosaics for {} ({})", group, e.what());
          }
      }
    }
    if (!figures.empty()) {
      md += "\n";
      for (const auto& [caption, png] : figures) md += "**" + caption + "**\n\n![](" + fs::relative(png, out).string() + ")\n\n";
      for (const auto& [caption, png] : figures) html += report::html_figure(png, caption);
    }
    json["groups"].push_back(jg);
  }
  if (!figure_errors.empty()) log_warn("benchmark tables: some figures are missing ({})", figure_errors.front());

  // What has not finished.
  TableRows pending;
  std::vector<std::string> unfinished;
  for (const auto& c : b.cells) {
    if (cell_finished(out, c.name)) continue;
    const fs::path d = Benchmark::cell_dir(out, c.name);
    std::string state = "pending";
    if (FileLock::held_elsewhere(d / "lock")) state = "being trained by " + FileLock::holder(d / "lock");
    else if (fs::exists(d / "failed.txt")) state = "failed: " + trim(read_file(d / "failed.txt"));
    else if (fs::exists(Benchmark::run_dir(out, c.name) / "checkpoint.pt")) state = "interrupted (continue with --resume)";
    pending.push_back({c.name, state});
    unfinished.push_back(c.name);
  }
  json["unfinished"] = unfinished;
  json["cells_finished"] = results.size();
  json["cells"] = b.cells.size();
  if (!pending.empty()) {
    const std::string head = fmt::format("Unfinished cells ({} of {})", pending.size(), b.cells.size());
    md += "\n## " + head + "\n\n" + report::markdown_table({"Cell", "State"}, pending);
    html += "<h2>" + report::html_escape(head) + "</h2>" + report::html_table({"Cell", "State"}, pending);
  }
  html += report::html_page_end();

  // One line per finished cell.
  std::string cells_csv = "cell,group,architecture,balancer,seed,task";
  for (const auto& m : csv_metrics) cells_csv += "," + report::csv_field(m);
  cells_csv += ",delta_m_percent,parameters,gflops_per_image,train_seconds,ms_per_step,peak_memory_mb\n";
  for (const auto& res : results) {
    const Cell& c = *res.cell;
    std::vector<std::string> f = {c.name, c.group, c.architecture, c.single_task() ? "" : c.balancer, std::to_string(c.seed), c.task};
    for (const auto& m : csv_metrics) {
      const auto dot = m.find('.');
      const std::string t = m.substr(0, dot), k = m.substr(dot + 1);
      f.push_back(res.test.contains(t) && res.test[t].contains(k) && res.test[t][k].is_number() ? fmt::format("{}", res.test[t][k].get<double>()) : "");
    }
    std::string delta;
    if (!c.single_task()) {
      eval::DeltaM d = eval::delta_m(res.test, st_test[c.group][c.seed], c.tasks);
      if (d.complete()) delta = fmt::format("{}", 100 * d.value);
    }
    f.push_back(c.single_task() ? "0" : delta);
    const Json& s = res.summary;
    f.push_back(s.contains("parameters") ? fmt::format("{}", s["parameters"]["total"].get<std::int64_t>()) : "");
    for (const char* k : {"gflops_per_image", "train_seconds", "ms_per_step", "peak_memory_mb"})
      f.push_back(s.contains(k) && s[k].is_number() ? fmt::format("{}", s[k].get<double>()) : "");
    cells_csv += join(f, ",") + "\n";
  }

  write_file_atomic(out / "results.md", md);
  write_file_atomic(out / "results.html", html);
  write_file_atomic(out / "results.csv", csv);
  write_file_atomic(out / "cells.csv", cells_csv);
  write_json(out / "results.json", json);
  std::string tables;
  for (std::size_t i = 0; i < md.size();) {  // the tables only, for the terminal
    std::size_t end = md.find('\n', i);
    if (end == std::string::npos) end = md.size();
    const std::string line = md.substr(i, end - i);
    if (line.rfind("|", 0) == 0 || line.rfind("## ", 0) == 0) tables += line + "\n";
    i = end + 1;
  }
  return tables;
}

}  // namespace densemtl::suite
