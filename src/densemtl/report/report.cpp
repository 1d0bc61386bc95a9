#include "densemtl/report/report.h"

#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "densemtl/core/error.h"
#include "densemtl/core/json.h"
#include "densemtl/core/log.h"
#include "densemtl/core/strings.h"
#include "densemtl/vision/io/image.h"
#include "densemtl/eval/delta_m.h"
#include "densemtl/eval/evaluator.h"
#include "densemtl/eval/trivial.h"
#include "densemtl/models/architectures/architecture.h"
#include "densemtl/report/format.h"
#include "densemtl/report/mosaic.h"
#include "densemtl/report/plots.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/train/experiment.h"
#include "densemtl/train/run.h"

namespace densemtl::report {

namespace {

struct Entry {
  std::string name, architecture, balancer, backbone, dataset_root, test_split;
  double width = 1;
  std::vector<std::string> tasks;
  OrderedJson test = OrderedJson::object();
  Json summary = Json::object();
  std::vector<Json> log;
  fs::path dir;
  std::optional<eval::DeltaM> delta;
  bool baseline = false;  // a single-task run that serves as a baseline
  bool trivial = false;
};

std::string group_key(const Entry& e) { return e.dataset_root + "|" + e.backbone + "|" + fmt::format("{}", e.width); }

Entry load_entry(const fs::path& dir) {
  train::Run run = train::open_run(dir);
  Entry e;
  e.dir = dir;
  e.summary = run.summary;
  fs::path folder = fs::path(dir).lexically_normal();
  if (folder.filename().empty()) folder = folder.parent_path();
  e.name = folder.filename().string();
  if (e.name.empty()) e.name = run.name();
  const Experiment& x = run.experiment;
  e.architecture = x.model.architecture;
  e.balancer = x.balancer;
  e.backbone = x.model.backbone;
  e.width = x.model.width;
  e.dataset_root = fs::weakly_canonical(x.data.root).string();
  e.test_split = x.data.test_split;
  e.tasks = x.tasks.main;
  if (e.summary.contains("test_metrics")) e.test = OrderedJson::parse(e.summary["test_metrics"].dump());
  else if (fs::exists(run.metrics_file())) e.test = OrderedJson::parse(read_json(run.metrics_file()).dump());
  else log_warn("{}: no test metrics yet (training not finished?)", dir.string());
  std::ifstream in(run.log());
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) e.log.push_back(Json::parse(line));
  return e;
}

struct Column {
  std::string task, metric, header;
  bool lower;
  int digits;
};

std::vector<Column> columns_for(const std::vector<std::string>& task_names) {
  std::vector<Column> cols;
  for (const auto& t : task_names)
    for (const auto& c : tasks::get(t).report_columns()) cols.push_back({t, c.metric, c.header, c.lower_is_better, c.digits});
  return cols;
}

std::string value(const OrderedJson& metrics, const Column& c) {
  if (!metrics.contains(c.task) || !metrics[c.task].contains(c.metric)) return "–";
  return fmt::format("{:.{}f}", metrics[c.task][c.metric].get<double>(), c.digits);
}

std::string model_text(const Entry& e) {
  if (e.trivial) return "constant";
  const models::ArchitectureEntry& a = models::architecture_entry(e.architecture);
  std::string text = a.label.empty() ? a.name : a.label;
  // The balancer, where it is not the fixed weights every reference row uses.
  if (!e.balancer.empty() && e.balancer != "fixed") text += " + " + e.balancer;
  return text;
}

bool is_single_task_baseline(const Entry& e) {
  return models::architecture_entry(e.architecture).role == models::ArchitectureEntry::Role::SingleTask && e.tasks.size() == 1;
}

std::string backbone_text(const Entry& e) {
  if (e.trivial) return "–";
  return e.width == 1.0 ? e.backbone : fmt::format("{} ×{:g}", e.backbone, e.width);
}

}  // namespace

std::string write_report(const ReportOptions& o) {
  if (o.runs.empty()) fail("report: no run folders given");
  std::vector<Entry> entries;
  for (const auto& r : o.runs) entries.push_back(load_entry(r));
  fs::create_directories(o.out);

  // Delta_m against the single-task runs of the same dataset, backbone and width.
  std::map<std::string, std::map<std::string, const Entry*>> baselines;
  for (auto& e : entries)
    if (is_single_task_baseline(e)) {
      baselines[group_key(e)][e.tasks[0]] = &e;
      e.baseline = true;
    }
  for (auto& e : entries) {
    std::map<std::string, OrderedJson> base;
    for (const auto& [task, entry] : baselines[group_key(e)]) base[task] = entry->test;
    if (e.baseline || base.empty()) continue;
    e.delta = eval::delta_m(e.test, base, e.tasks);
  }

  // The union of tasks, canonical order.
  std::vector<std::string> all_tasks;
  for (const auto& e : entries) all_tasks.insert(all_tasks.end(), e.tasks.begin(), e.tasks.end());
  all_tasks = tasks::canonical(all_tasks);

  // The trivial predictor on the first run's dataset and test split.
  std::vector<Entry> rows_entries = entries;
  std::unique_ptr<data::Dataset> dataset;
  train::Run first = train::open_run(entries.front().dir);
  try {
    dataset = first.experiment.open_dataset();
  } catch (const Error& e) {
    log_warn("report: {} (no trivial-predictor row, no mosaics)", e.what());
  }
  if (o.trivial && dataset) {
    Entry t;
    t.name = "trivial predictor";
    t.trivial = true;
    t.tasks = all_tasks;
    std::vector<std::string> usable;
    for (const auto& task : all_tasks)
      if (dataset->info().has_task(task)) usable.push_back(task);
    t.test = eval::trivial_baseline(*dataset, dataset->ids(first.experiment.data.train_split),
                                    dataset->ids(first.experiment.data.test_split),
                                    tasks::TaskSet(usable, first.experiment.config.get()));
    rows_entries.insert(rows_entries.begin(), t);
  }

  // Main table.
  std::vector<Column> cols = columns_for(all_tasks);
  std::vector<std::string> header = {"Run", "Model", "Backbone"};
  for (const auto& c : cols) header.push_back(c.header);
  for (const char* h : {"Δm %", "Params (M)", "GFLOPs", "Train time", "Step (ms)", "Peak mem (MB)"}) header.push_back(h);
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : rows_entries) {
    std::vector<std::string> r = {e.name, model_text(e), backbone_text(e)};
    for (const auto& c : cols) r.push_back(value(e.test, c));
    if (e.trivial) r.push_back("–");
    else if (e.baseline) r.push_back("+0.00 (baseline)");
    else if (e.delta && e.delta->complete()) r.push_back(fmt::format("{:+.2f}", 100 * e.delta->value));
    else if (e.delta) r.push_back("n/a (no single-task " + join(e.delta->missing, ", ") + ")");
    else r.push_back("n/a");
    auto num = [&](const char* key, const char* sub, double scale, int digits) -> std::string {
      if (!e.summary.contains(key)) return "–";
      const Json& v = sub ? e.summary[key][sub] : e.summary[key];
      return fmt::format("{:.{}f}", v.get<double>() * scale, digits);
    };
    r.push_back(num("parameters", "total", 1e-6, 3));
    r.push_back(num("gflops_per_image", nullptr, 1.0, 3));
    r.push_back(e.summary.contains("train_seconds") ? format_duration(e.summary["train_seconds"].get<double>()) : "–");
    r.push_back(num("ms_per_step", nullptr, 1.0, 0));
    r.push_back(num("peak_memory_mb", nullptr, 1.0, 0));
    rows.push_back(r);
  }
  std::string main_md = markdown_table(header, rows);

  // Every metric, per task.
  std::string details_md, details_html;
  for (const auto& t : all_tasks) {
    std::vector<std::string> keys;
    for (const auto& e : rows_entries)
      if (e.test.contains(t))
        for (const auto& [k, v] : e.test[t].items())
          if (v.is_number() && k != "images" && k != "pixels" && std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    if (keys.empty()) continue;
    std::vector<std::string> h = {"Run"};
    h.insert(h.end(), keys.begin(), keys.end());
    std::vector<std::vector<std::string>> r;
    for (const auto& e : rows_entries) {
      if (!e.test.contains(t)) continue;
      std::vector<std::string> row = {e.name};
      for (const auto& k : keys) row.push_back(e.test[t].contains(k) ? fmt::format("{:.4g}", e.test[t][k].get<double>()) : "–");
      r.push_back(row);
    }
    details_md += "\n### " + tasks::get(t).title() + "\n\n" + markdown_table(h, r);
    details_html += "<h3>" + html_escape(tasks::get(t).title()) + "</h3>" + html_table(h, r);
  }

  // Loss curves.
  std::vector<std::pair<std::string, fs::path>> figures;
  for (const auto& e : entries) {
    if (e.log.empty()) continue;
    std::vector<Series> series;
    for (std::size_t ti = 0; ti < tasks::names().size(); ++ti) {
      const std::string& t = tasks::names()[ti];
      Series tr{t + " train", {}, {}, false, static_cast<int>(ti) + 1}, va{t + " val", {}, {}, true, static_cast<int>(ti) + 1};
      for (const auto& l : e.log) {
        if (l.contains("train_loss") && l["train_loss"].contains(t)) {
          tr.x.push_back(l["epoch"].get<double>());
          tr.y.push_back(l["train_loss"][t].get<double>());
        }
        if (l.contains("val_loss") && l["val_loss"].contains(t)) {
          va.x.push_back(l["epoch"].get<double>());
          va.y.push_back(l["val_loss"][t].get<double>());
        }
      }
      if (!tr.x.empty()) series.push_back(tr);
      if (!va.x.empty()) series.push_back(va);
    }
    fs::path png = o.out / "curves" / (e.name + ".png");
    std::string err;
    PlotOptions po;
    po.title = "losses of " + e.name;
    po.xlabel = "epoch";
    po.ylabel = "loss";
    po.log_y = true;
    if (line_plot(png, series, po, &err)) figures.emplace_back("Losses: " + e.name, png);
    else log_warn("report: no loss curves ({})", err);
  }

  // Mosaics: the first test images, ground truth and every run's stored predictions.
  if (dataset && o.mosaics > 0) {
    std::vector<std::string> ids = dataset->ids(first.experiment.data.test_split);
    for (int i = 0; i < o.mosaics && i < static_cast<int>(ids.size()); ++i) {
      std::vector<std::string> available;
      for (const auto& t : all_tasks)
        if (dataset->info().has_task(t)) available.push_back(t);
      data::Sample s = dataset->load(ids[static_cast<std::size_t>(i)], available);
      cv::Mat blank(s.image.size(), CV_8UC3, cv::Scalar::all(255));
      std::vector<Tile> tiles = {{"input", to_rgb8(s.image)}};
      for (const auto& t : all_tasks)
        tiles.emplace_back(t + " truth", s.has(t) ? tasks::get(t).draw(s.labels.at(t), dataset->info()) : blank);
      for (const auto& e : entries) {
        tiles.emplace_back(e.name, blank);
        for (const auto& t : all_tasks) {
          fs::path file = eval::prediction_path(e.dir / "predictions" / e.test_split, t, ids[static_cast<std::size_t>(i)]);
          if (std::find(e.tasks.begin(), e.tasks.end(), t) == e.tasks.end() || !fs::exists(file)) {
            tiles.emplace_back("", blank);
            continue;
          }
          const tasks::Task& task = tasks::get(t);
          const cv::Mat* ref = s.has(t) ? &s.labels.at(t) : nullptr;
          tiles.emplace_back(t, task.draw(task.decode_prediction(task.read_prediction(file)), dataset->info(), ref));
        }
      }
      fs::path png = o.out / "mosaics" / fmt::format("test_{}.png", i);
      image::write_rgb(png, mosaic(tiles, static_cast<int>(all_tasks.size()) + 1));
      figures.emplace_back("Test image " + ids[static_cast<std::size_t>(i)] + ": ground truth (first row) and each run's predictions", png);
    }
  }

  // Markdown.
  std::string md = "# densemtl report\n\n";
  md += fmt::format("{} run(s). Test-split metrics of each run's final model; Δm (%) of multi-task runs against the "
                    "single-task runs listed here with the same dataset, backbone and width (survey Eq. 10: "
                    "semseg/parts/saliency mIoU, normals mean error, edge odsF, depth RMSE). The trivial predictor "
                    "predicts training-set constants (majority class, mean depth, mean normal).\n\n",
                    entries.size());
  md += main_md + "\n## All metrics\n" + details_md + "\n## Figures\n\n";
  for (const auto& [caption, png] : figures) md += "**" + caption + "**\n\n![](" + fs::relative(png, o.out).string() + ")\n\n";
  write_file_atomic(o.out / "report.md", md);

  // CSV: every metric of every task.
  std::vector<std::string> csv_cols;
  for (const auto& e : rows_entries)
    for (const auto& [t, m] : e.test.items())
      for (const auto& [k, v] : m.items())
        if (v.is_number()) {
          std::string c = t + "." + k;
          if (std::find(csv_cols.begin(), csv_cols.end(), c) == csv_cols.end()) csv_cols.push_back(c);
        }
  std::string csv = "run,model,backbone,width,tasks";
  for (const auto& c : csv_cols) csv += "," + csv_field(c);
  csv += ",delta_m_percent,parameters,gflops_per_image,train_seconds,ms_per_step,peak_memory_mb\n";
  for (const auto& e : rows_entries) {
    std::vector<std::string> f = {csv_field(e.name), csv_field(model_text(e)), e.trivial ? "" : e.backbone,
                                  e.trivial ? "" : fmt::format("{:g}", e.width), csv_field(join(e.tasks, " "))};
    for (const auto& c : csv_cols) {
      auto dot = c.find('.');
      std::string t = c.substr(0, dot), k = c.substr(dot + 1);
      f.push_back(e.test.contains(t) && e.test[t].contains(k) ? fmt::format("{}", e.test[t][k].get<double>()) : "");
    }
    f.push_back(e.baseline ? "0" : e.delta && e.delta->complete() ? fmt::format("{}", 100 * e.delta->value) : "");
    f.push_back(e.summary.contains("parameters") ? fmt::format("{}", e.summary["parameters"]["total"].get<std::int64_t>()) : "");
    f.push_back(e.summary.contains("gflops_per_image") ? fmt::format("{}", e.summary["gflops_per_image"].get<double>()) : "");
    f.push_back(e.summary.contains("train_seconds") ? fmt::format("{}", e.summary["train_seconds"].get<double>()) : "");
    f.push_back(e.summary.contains("ms_per_step") ? fmt::format("{}", e.summary["ms_per_step"].get<double>()) : "");
    f.push_back(e.summary.contains("peak_memory_mb") ? fmt::format("{}", e.summary["peak_memory_mb"].get<double>()) : "");
    csv += join(f, ",") + "\n";
  }
  write_file_atomic(o.out / "report.csv", csv);

  // HTML with the pictures embedded.
  std::string html = html_page_start("densemtl report");
  html += "<p>" + html_escape(fmt::format("{} run(s). Test-split metrics; Δm (%) against the single-task runs with the same "
                                          "dataset, backbone and width.", entries.size())) + "</p>";
  html += html_table(header, rows) + "<h2>All metrics</h2>" + details_html + "<h2>Figures</h2>";
  for (const auto& [caption, png] : figures) html += html_figure(png, caption);
  html += html_page_end();
  write_file_atomic(o.out / "report.html", html);
  return main_md;
}

}  // namespace densemtl::report
