#include "densemtl/suite/tables.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "densemtl/core/config.h"
#include "densemtl/core/error.h"
#include "densemtl/core/json.h"
#include "densemtl/core/log.h"
#include "densemtl/core/strings.h"
#include "densemtl/models/architectures/architecture.h"
#include "densemtl/report/figures.h"
#include "densemtl/report/format.h"
#include "densemtl/report/results.h"
#include "densemtl/suite/runner.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/train/experiment.h"

namespace densemtl::suite {

namespace {

using report::RunResult;
using report::Stat;
using report::Table;

// A finished cell and its run's results.
struct Finished {
  const Cell* cell = nullptr;
  RunResult run;
};

// A row of a group's table: an architecture under a balancer (or the group's single-task runs),
// its cells over seeds and what they measured.
struct Row {
  std::string key, group, architecture, balancer;
  std::string model;  // the table's Model column
  std::string label;  // the model and, when not fixed weights, its balancer (figures)
  bool single_task = false;
  std::vector<std::string> tasks;
  std::vector<const Cell*> cells;
  std::map<std::uint64_t, std::vector<const Finished*>> seeds;  // finished cells per seed
  std::map<std::string, std::map<std::string, Stat>> metrics;    // task -> metric -> over seeds
  std::map<std::string, std::vector<std::pair<std::string, Stat>>> per_class;  // task -> class scores, dataset order
  Stat delta, val_delta, params, gflops, train_seconds, ms_per_step, peak_mb;
  std::map<std::uint64_t, double> val_delta_by_seed;

  int seeds_complete() const { return static_cast<int>(params.values.size()); }
  bool has_task(const std::string& t) const { return std::find(tasks.begin(), tasks.end(), t) != tasks.end(); }
  const Stat* metric(const std::string& task, const std::string& key) const {
    auto t = metrics.find(task);
    if (t == metrics.end() || !t->second.count(key)) return nullptr;
    return &t->second.at(key);
  }
};

std::string architecture_text(const std::string& a) {
  const models::ArchitectureEntry& e = models::architecture_entry(a);
  return e.label.empty() ? e.name : e.label;
}

// Baselines are per backbone group and seed.
std::string baseline_group(const Cell& c) { return c.group + "|" + std::to_string(c.seed); }

std::vector<Finished> finished_cells(const Benchmark& b, const fs::path& out) {
  std::vector<Finished> results;
  results.reserve(b.cells.size());
  for (const auto& c : b.cells)
    if (cell_finished(out, c.name)) results.push_back({&c, report::read_run(Benchmark::run_dir(out, c.name))});
  return results;
}

// The rows in the benchmark's order (single-task first within each group), with their cells.
std::vector<Row> make_rows(const Benchmark& b, const std::vector<Finished>& results) {
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
      if (!r.has_task(t)) r.tasks.push_back(t);
    r.tasks = tasks::canonical(r.tasks);
  }
  for (const auto& res : results) rows[index[res.cell->row()]].seeds[res.cell->seed].push_back(&res);
  return rows;
}

// One seed's metrics of a row: every scalar metric and per-class score of each cell's tasks.
void add_metrics(Row& r, const Finished& x) {
  for (const auto& t : x.cell->tasks) {
    if (!x.run.test.contains(t)) continue;
    for (const auto& [k, v] : report::scalar_metrics(x.run.test[t])) r.metrics[t][k].add(v);
    auto& classes = r.per_class[t];
    for (const auto& [cls, score] : tasks::get(t).per_class(x.run.test[t])) {
      auto it = std::find_if(classes.begin(), classes.end(), [&](const auto& e) { return e.first == cls; });
      if (it == classes.end()) it = classes.insert(classes.end(), {cls, Stat{}});
      it->second.add(score);
    }
  }
}

// What a row's seeds measured: metrics, costs (a single-task seed counts once all its tasks have
// finished; its costs add up), and Δm against the seed's single-task runs.
void aggregate(Row& r, const report::Baselines& baselines) {
  for (const auto& [seed, list] : r.seeds) {
    if (r.single_task && list.size() < r.tasks.size()) continue;
    double params = 0, gflops = 0, seconds = 0, ms = 0, peak = 0;
    auto value = [](double v) { return std::isnan(v) ? 0.0 : v; };
    for (const Finished* x : list) {
      add_metrics(r, *x);
      params += value(x->run.number("parameters.total"));
      gflops += value(x->run.number("gflops_per_image"));
      seconds += value(x->run.number("train_seconds"));
      ms += value(x->run.number("ms_per_step"));
      peak = std::max(peak, value(x->run.number("peak_memory_mb")));
    }
    r.params.add(params);
    r.gflops.add(gflops);
    r.train_seconds.add(seconds);
    r.ms_per_step.add(ms);
    r.peak_mb.add(peak);
    if (r.single_task) continue;
    const Finished& x = *list.front();
    if (auto d = baselines.delta(baseline_group(*x.cell), x.run); d && d->complete()) r.delta.add(100 * d->value);
    if (auto d = baselines.delta(baseline_group(*x.cell), x.run, true); d && d->complete()) {
      r.val_delta.add(100 * d->value);
      r.val_delta_by_seed[seed] = 100 * d->value;
    }
  }
}

std::string legend(const Benchmark& b) {
  std::vector<std::string> seeds;
  for (auto v : b.seeds) seeds.push_back(std::to_string(v));
  return fmt::format(
      "Seeds {}. Test-split metrics of each cell's model chosen on the validation split, as mean ± standard deviation "
      "(n − 1) over seeds. Δm (%, survey Eq. 10: semseg/parts/saliency mIoU, normals mean error, boundary odsF, depth "
      "RMSE) against the single-task runs of the same backbone group and seed, then mean ± std. † marks a value whose "
      "difference to the single-task row (for Δm: to 0) is within the seed spread (|difference| ≤ the two standard "
      "deviations added): not a finding. GFLOPs: densemtl's count, 2 × multiply-accumulates of convolutions and linear "
      "layers per image at the input size; Survey GFLOPs: the survey's convention, a quarter of it (half the MACs). "
      "The single-task row adds up its networks' parameters, FLOPs and training times. Peak memory: resident, per "
      "training process.",
      join(seeds, ", "));
}

// The group's backbone as its first cell configures it ("resnet18 ×0.25").
std::string backbone_text(const std::vector<const Row*>& g) {
  for (const Row* r : g)
    if (!r->cells.empty()) {
      config::Config c = config::Config::parse(experiment_schema(), r->cells.front()->config, r->cells.front()->name);
      const double width = c.get_float("model.width");
      return c.get_string("backbone.name") + (width == 1.0 ? "" : fmt::format(" ×{:g}", width));
    }
  return "";
}

std::string delta_cell(const Row& r) {
  if (r.single_task) return "+0.00 (baseline)";
  if (r.delta.empty()) return "–";
  std::string text = report::show(r.delta, 2);
  if (text[0] != '-') text = "+" + text;
  if (r.delta.values.size() >= 2 && std::abs(r.delta.mean()) <= r.delta.std()) text += " †";
  return text;
}

Table group_table(const std::vector<const Row*>& g, const std::vector<std::string>& group_tasks, std::size_t seeds) {
  const Row* st = g.front()->single_task ? g.front() : nullptr;
  Table table;
  table.header = {"Model", "Balancer", "Seeds"};
  for (const auto& t : group_tasks)
    for (const auto& c : tasks::get(t).report_columns()) table.header.push_back(c.header);
  for (const char* h : {"Δm %", "Params (M)", "GFLOPs", "Survey GFLOPs", "Train time", "Peak mem (MB)"}) table.header.push_back(h);
  // Parameters and FLOPs do not depend on the seed.
  auto fixed = [](const Stat& s, double scale) { return s.empty() ? std::string("–") : fmt::format("{:.3f}", s.mean() * scale); };
  for (const Row* r : g) {
    std::vector<std::string> row = {r->model, r->single_task ? "–" : r->balancer == "fixed" ? "fixed weights" : r->balancer,
                                    fmt::format("{}/{}", r->seeds_complete(), seeds)};
    for (const auto& t : group_tasks)
      for (const auto& c : tasks::get(t).report_columns()) {
        const Stat* s = r->has_task(t) ? r->metric(t, c.metric) : nullptr;
        if (!s) {
          row.push_back("–");
          continue;
        }
        const Stat* base = st && r != st ? st->metric(t, c.metric) : nullptr;
        row.push_back(report::show(*s, c.digits) + (base && report::within_spread(*s, *base) ? " †" : ""));
      }
    row.push_back(delta_cell(*r));
    row.push_back(fixed(r->params, 1e-6));
    row.push_back(fixed(r->gflops, 1));
    row.push_back(fixed(r->gflops, 0.25));
    row.push_back(r->train_seconds.empty() ? "–" : format_duration(r->train_seconds.mean()));
    row.push_back(r->peak_mb.empty() ? "–" : fmt::format("{:.0f}", r->peak_mb.mean()));
    table.rows.push_back(row);
  }
  return table;
}

Json row_json(const Row& r) {
  Json jr;
  jr["row"] = r.key;
  jr["model"] = r.model;
  jr["architecture"] = r.architecture;
  jr["balancer"] = r.single_task ? Json(nullptr) : Json(r.balancer);
  jr["tasks"] = r.tasks;
  std::vector<std::string> names;
  for (const Cell* c : r.cells) names.push_back(c->name);
  jr["cells"] = names;
  jr["seeds_finished"] = r.seeds_complete();
  Json jm = Json::object();
  for (const auto& [t, ms] : r.metrics)
    for (const auto& [k, s] : ms) jm[t][k] = s.json();
  jr["metrics"] = jm;
  jr["delta_m_percent"] = r.single_task ? Json(nullptr) : r.delta.json();
  jr["validation_delta_m_percent"] = r.single_task ? Json(nullptr) : r.val_delta.json();
  jr["parameters"] = r.params.json();
  jr["gflops_per_image"] = r.gflops.json();
  jr["survey_gflops"] = r.gflops.empty() ? Json(nullptr) : Json(0.25 * r.gflops.mean());
  jr["train_seconds"] = r.train_seconds.json();
  jr["ms_per_step"] = r.ms_per_step.json();
  jr["peak_memory_mb"] = r.peak_mb.json();
  return jr;
}

// Every task.metric any row measured (results.csv's metric columns).
std::vector<std::string> metric_columns(const std::vector<Row>& rows) {
  std::vector<std::string> columns;
  for (const auto& r : rows)
    for (const auto& [t, ms] : r.metrics)
      for (const auto& [k, s] : ms)
        if (std::find(columns.begin(), columns.end(), t + "." + k) == columns.end()) columns.push_back(t + "." + k);
  return columns;
}

std::string full(double v) { return std::isnan(v) ? std::string() : fmt::format("{}", v); }

std::pair<std::string, std::string> split_column(const std::string& column) {
  const auto dot = column.find('.');
  return {column.substr(0, dot), column.substr(dot + 1)};
}

// results.csv: one line per row (group by group, as the tables), mean and std of every metric.
Table results_csv(const std::vector<Row>& all_rows, const std::vector<std::string>& groups, const std::vector<std::string>& columns) {
  std::vector<const Row*> rows;
  for (const auto& g : groups)
    for (const auto& r : all_rows)
      if (r.group == g) rows.push_back(&r);
  Table t;
  t.header = {"group", "model", "balancer", "seeds_finished", "cells"};
  for (const auto& m : columns) {
    t.header.push_back(m);
    t.header.push_back(m + ".std");
  }
  for (const char* h : {"delta_m_percent", "delta_m_percent.std", "parameters", "gflops_per_image", "survey_gflops",
                        "train_seconds", "peak_memory_mb"})
    t.header.push_back(h);
  for (const Row* row : rows) {
    const Row& r = *row;
    std::vector<std::string> names;
    for (const Cell* c : r.cells) names.push_back(c->name);
    std::vector<std::string> f = {r.group, r.model, r.single_task ? "" : r.balancer, std::to_string(r.seeds_complete()),
                                  join(names, " ")};
    for (const auto& m : columns) {
      const auto [task, key] = split_column(m);
      const Stat* s = r.metric(task, key);
      f.push_back(s ? full(s->mean()) : "");
      f.push_back(s ? full(s->std()) : "");
    }
    f.push_back(r.single_task ? "0" : full(r.delta.mean()));
    f.push_back(r.single_task ? "" : full(r.delta.std()));
    for (double v : {r.params.mean(), r.gflops.mean()}) f.push_back(full(v));
    f.push_back(r.gflops.empty() ? "" : full(0.25 * r.gflops.mean()));
    for (double v : {r.train_seconds.mean(), r.peak_mb.mean()}) f.push_back(full(v));
    t.rows.push_back(f);
  }
  return t;
}

// cells.csv: one line per finished cell.
Table cells_csv(const std::vector<Finished>& results, const std::vector<std::string>& columns, const report::Baselines& baselines) {
  Table t;
  t.header = {"cell", "group", "architecture", "balancer", "seed", "task"};
  t.header.insert(t.header.end(), columns.begin(), columns.end());
  for (const char* h : {"delta_m_percent", "parameters", "gflops_per_image", "train_seconds", "ms_per_step", "peak_memory_mb"})
    t.header.push_back(h);
  for (const auto& res : results) {
    const Cell& c = *res.cell;
    std::vector<std::string> f = {c.name, c.group, c.architecture, c.single_task() ? "" : c.balancer, std::to_string(c.seed), c.task};
    for (const auto& m : columns) {
      const auto [task, key] = split_column(m);
      const auto& test = res.run.test;
      f.push_back(test.contains(task) && test[task].contains(key) && test[task][key].is_number()
                      ? fmt::format("{}", test[task][key].get<double>())
                      : "");
    }
    std::string delta = c.single_task() ? "0" : "";
    if (auto d = c.single_task() ? std::nullopt : baselines.delta(baseline_group(c), res.run); d && d->complete())
      delta = fmt::format("{}", 100 * d->value);
    f.push_back(delta);
    const double params = res.run.number("parameters.total");
    f.push_back(std::isnan(params) ? "" : fmt::format("{}", static_cast<std::int64_t>(params)));
    for (const char* k : {"gflops_per_image", "train_seconds", "ms_per_step", "peak_memory_mb"}) f.push_back(full(res.run.number(k)));
    t.rows.push_back(f);
  }
  return t;
}

// Each architecture's best cell on validation Δm (never the test split); the first finished cell
// where no validation Δm exists.
std::vector<std::pair<std::string, std::pair<double, const Finished*>>> best_cells(const std::vector<const Row*>& g) {
  std::vector<std::pair<std::string, std::pair<double, const Finished*>>> best;
  for (const Row* r : g) {
    if (r->single_task) continue;
    for (const auto& [seed, list] : r->seeds) {
      auto it = r->val_delta_by_seed.find(seed);
      const double score = it == r->val_delta_by_seed.end() ? -std::numeric_limits<double>::infinity() : it->second;
      auto b = std::find_if(best.begin(), best.end(), [&](const auto& e) { return e.first == r->architecture; });
      if (b == best.end()) best.push_back({r->architecture, {score, list.front()}});
      else if (score > b->second.first) b->second = {score, list.front()};
    }
  }
  return best;
}

void group_mosaics(report::Figures& figures, const std::vector<const Row*>& g, const std::vector<std::string>& group_tasks,
                   const fs::path& dir, const std::string& title, int count) {
  const auto best = best_cells(g);
  if (best.empty() || count <= 0) return;
  try {
    const Finished* any = best.front().second.second;
    Experiment x = Experiment::from(config::Config::parse(experiment_schema(), any->cell->config, any->cell->name));
    std::unique_ptr<data::Dataset> dataset = x.open_dataset();
    std::vector<report::MosaicRow> rows;
    for (const auto& [a, scored] : best) {
      const auto& [v, res] = scored;
      rows.push_back({std::isfinite(v) ? fmt::format("{} ({}, val Δm {:+.2f})", res->cell->name, architecture_text(a), v)
                                       : fmt::format("{} ({})", res->cell->name, architecture_text(a)),
                      res->run.dir / "predictions" / x.data.test_split, res->cell->tasks});
    }
    report::prediction_mosaics(figures, dir / "mosaic_", "ground truth (first row), then each architecture's best cell on validation Δm (" + title + ")",
                               *dataset, x.data.test_split, count, group_tasks, rows);
  } catch (const Error& e) {
    log_warn("benchmark tables: no mosaics for {} ({})", title, e.what());
  }
}

report::Figures group_figures(const std::vector<const Row*>& g, const std::vector<std::string>& group_tasks, const fs::path& dir,
                              const std::string& title, const TablesOptions& o) {
  report::Figures figures;
  if (!o.figures) return figures;
  std::vector<report::Tradeoff> points, multi_task;
  for (const Row* r : g) {
    if (r->params.empty() || (!r->single_task && r->delta.empty())) continue;
    const double d = r->single_task ? 0.0 : r->delta.mean();
    const double e = r->single_task || std::isnan(r->delta.std()) ? 0.0 : r->delta.std();
    points.push_back({r->label, d, e, r->gflops.mean(), r->params.mean()});
    if (!r->single_task) multi_task.push_back(points.back());
  }
  report::pareto_figures(figures, dir, title, points);
  report::delta_chart(figures, dir / "delta_m.png", title, multi_task);
  std::vector<report::Labelled> first_seeds;  // the first seed of each row
  for (const Row* r : g)
    for (const auto& [seed, list] : r->seeds) {
      for (const Finished* x : list) first_seeds.push_back({r->label + " (seed " + std::to_string(seed) + ")", &x->run});
      break;
    }
  report::pr_figures(figures, dir, title, first_seeds, group_tasks);
  for (const auto& t : group_tasks) {
    std::vector<report::ClassScores> scores;  // mean over seeds
    for (const Row* r : g) {
      auto it = r->per_class.find(t);
      if (it == r->per_class.end() || it->second.empty()) continue;
      report::ClassScores s{r->label, {}};
      for (const auto& [cls, stat] : it->second) s.values.emplace_back(cls, stat.mean());
      scores.push_back(s);
    }
    report::per_class_figure(figures, dir, title, t, scores);
  }
  report::loss_figures(figures, dir / "losses", title, first_seeds, group_tasks);
  group_mosaics(figures, g, group_tasks, dir, title, o.mosaics);
  return figures;
}

// What has not finished, with its state.
Table unfinished_table(const Benchmark& b, const fs::path& out, std::vector<std::string>& names) {
  Table t;
  t.header = {"Cell", "State"};
  for (const auto& c : b.cells) {
    if (cell_finished(out, c.name)) continue;
    const fs::path d = Benchmark::cell_dir(out, c.name);
    std::string state = "pending";
    if (FileLock::held_elsewhere(d / "lock")) state = "being trained by " + FileLock::holder(d / "lock");
    else if (fs::exists(d / "failed.txt")) state = "failed: " + trim(read_file(d / "failed.txt"));
    else if (fs::exists(Benchmark::run_dir(out, c.name) / "checkpoint.pt")) state = "interrupted (continue with --resume)";
    t.rows.push_back({c.name, state});
    names.push_back(c.name);
  }
  return t;
}

// The tables only, for the terminal.
std::string terminal_text(const std::string& md) {
  std::string tables;
  for (const auto& line : split(md, '\n'))
    if (line.rfind("|", 0) == 0 || line.rfind("## ", 0) == 0) tables += line + "\n";
  return tables;
}

}  // namespace

std::string write_tables(const Benchmark& b, const fs::path& out, const TablesOptions& o) {
  FileLock lock = FileLock::wait(out / "results.lock");  // one writer at a time
  const std::vector<Finished> results = finished_cells(b, out);
  std::vector<Row> rows = make_rows(b, results);
  report::Baselines baselines;
  for (const auto& res : results)
    if (res.cell->single_task()) baselines.add(baseline_group(*res.cell), res.run);
  for (auto& r : rows) aggregate(r, baselines);

  report::Page page(b.name);
  if (!b.description.empty()) page.paragraph(trim(b.description));
  page.paragraph(legend(b));
  Json json;
  json["name"] = b.name;
  json["protocol_file"] = b.protocol_file.string();
  json["grid_file"] = b.grid_file.string();
  json["seeds"] = b.seeds;
  json["groups"] = Json::array();
  std::vector<std::string> figure_problems;
  fs::create_directories(out / "figures");
  for (const auto& group : b.groups) {
    std::vector<const Row*> g;
    std::vector<std::string> group_tasks;
    for (const auto& r : rows)
      if (r.group == group) {
        g.push_back(&r);
        group_tasks.insert(group_tasks.end(), r.tasks.begin(), r.tasks.end());
      }
    if (g.empty()) continue;
    group_tasks = tasks::canonical(group_tasks);
    const std::string backbone = backbone_text(g), title = fmt::format("{} ({})", group, backbone);
    page.heading(title);
    page.table(group_table(g, group_tasks, b.seeds.size()));
    Json jg = {{"group", group}, {"backbone", backbone}, {"rows", Json::array()}};
    for (const Row* r : g) jg["rows"].push_back(row_json(*r));
    json["groups"].push_back(jg);
    const report::Figures figures = group_figures(g, group_tasks, out / "figures" / group, title, o);
    for (const auto& f : figures.list) page.figure(f);
    figure_problems.insert(figure_problems.end(), figures.problems.begin(), figures.problems.end());
  }
  if (!figure_problems.empty()) log_warn("benchmark tables: some figures are missing ({})", figure_problems.front());
  std::vector<std::string> unfinished;
  const Table pending = unfinished_table(b, out, unfinished);
  json["unfinished"] = unfinished;
  json["cells_finished"] = results.size();
  json["cells"] = b.cells.size();
  if (!pending.rows.empty()) {
    page.heading(fmt::format("Unfinished cells ({} of {})", pending.rows.size(), b.cells.size()));
    page.table(pending);
  }
  const std::vector<std::string> columns = metric_columns(rows);
  page.write(out / "results");
  write_file_atomic(out / "results.csv", results_csv(rows, b.groups, columns).csv());
  write_file_atomic(out / "cells.csv", cells_csv(results, columns, baselines).csv());
  write_json(out / "results.json", json);
  return terminal_text(page.markdown(out));
}

}  // namespace densemtl::suite
