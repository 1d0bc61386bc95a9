#include "densemtl/report/results.h"

#include <algorithm>
#include <fstream>

#include "densemtl/core/error.h"
#include "densemtl/core/log.h"
#include "densemtl/core/strings.h"
#include "densemtl/models/architectures/architecture.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/train/run.h"

namespace densemtl::report {

namespace {

std::vector<Json> read_log(const fs::path& file) {
  std::vector<Json> log;
  std::ifstream in(file);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    try {
      log.push_back(Json::parse(line));
    } catch (const Json::parse_error&) {
      fail("{}:{}: not a JSON object", file.string(), number);
    }
  }
  return log;
}

std::string folder_name(const fs::path& dir) {
  fs::path folder = fs::path(dir).lexically_normal();
  if (folder.filename().empty()) folder = folder.parent_path();
  return folder.filename().string();
}

}  // namespace

RunResult read_run(const fs::path& dir) {
  const train::Run run = train::open_run(dir);
  const Experiment& x = run.experiment;
  RunResult r;
  r.dir = dir;
  r.name = folder_name(dir);
  if (r.name.empty()) r.name = run.name();
  r.architecture = x.model.architecture;
  r.balancer = x.balancer;
  r.backbone = x.model.backbone;
  r.width = x.model.width;
  r.dataset_root = fs::weakly_canonical(x.data.root).string();
  r.test_split = x.data.test_split;
  r.tasks = x.tasks.main;
  r.single_task = models::architecture_entry(r.architecture).role == models::ArchitectureEntry::Role::SingleTask &&
                  r.tasks.size() == 1;
  r.summary = run.summary;
  const OrderedJson summary = fs::exists(run.summary_file()) ? read_ordered_json(run.summary_file()) : OrderedJson::object();
  if (fs::exists(run.metrics_file())) r.test = read_ordered_json(run.metrics_file());
  else if (summary.contains("test_metrics")) r.test = summary["test_metrics"];
  else log_warn("{}: no test metrics yet (training not finished?)", dir.string());
  if (summary.contains("val_metrics") && summary["val_metrics"].is_object()) r.val = summary["val_metrics"];
  r.log = read_log(run.log());
  return r;
}

double RunResult::number(const std::string& dotted_key) const {
  const Json* at = &summary;
  for (const auto& part : split(dotted_key, '.')) {
    if (!at->is_object() || !at->contains(part)) return NAN;
    at = &(*at)[part];
  }
  return at->is_number() ? at->get<double>() : NAN;
}

bool RunResult::has_task(const std::string& task) const { return std::find(tasks.begin(), tasks.end(), task) != tasks.end(); }

std::string RunResult::backbone_text() const { return width == 1.0 ? backbone : fmt::format("{} ×{:g}", backbone, width); }

std::string RunResult::model_text() const {
  const models::ArchitectureEntry& a = models::architecture_entry(architecture);
  return a.label.empty() ? a.name : a.label;
}

std::pair<std::vector<double>, std::vector<double>> RunResult::val_losses(const std::string& task) const {
  std::pair<std::vector<double>, std::vector<double>> xy;
  for (const auto& l : log)
    if (l.contains("val_loss") && l["val_loss"].contains(task) && l["val_loss"][task].is_number() && l.contains("epoch")) {
      xy.first.push_back(l["epoch"].get<double>());
      xy.second.push_back(l["val_loss"][task].get<double>());
    }
  return xy;
}

std::vector<std::pair<std::string, double>> scalar_metrics(const OrderedJson& task_metrics) {
  std::vector<std::pair<std::string, double>> out;
  if (!task_metrics.is_object()) return out;
  for (const auto& [k, v] : task_metrics.items())
    if (v.is_number() && k != "images" && k != "pixels" && k != "thresholds") out.emplace_back(k, v.get<double>());
  return out;
}

double Stat::mean() const {
  double s = 0;
  for (double v : values) s += v;
  return values.empty() ? NAN : s / static_cast<double>(values.size());
}

double Stat::std() const {
  if (values.size() < 2) return NAN;
  const double m = mean();
  double s = 0;
  for (double v : values) s += (v - m) * (v - m);
  return std::sqrt(s / static_cast<double>(values.size() - 1));
}

Json Stat::json() const {
  Json j;
  j["mean"] = empty() ? Json(nullptr) : Json(mean());
  j["std"] = std::isnan(std()) ? Json(nullptr) : Json(std());
  j["values"] = values;
  return j;
}

bool within_spread(const Stat& a, const Stat& b) {
  if (a.values.size() < 2 || b.values.size() < 2) return false;
  return std::abs(a.mean() - b.mean()) <= a.std() + b.std();
}

std::string show(const Stat& s, int digits) {
  if (s.empty()) return "–";
  std::string text = fmt::format("{:.{}f}", s.mean(), digits);
  if (!std::isnan(s.std())) text += fmt::format(" ± {:.{}f}", s.std(), digits);
  return text;
}

void Baselines::add(const std::string& group, const RunResult& run) { by_group_[group][run.tasks.front()] = &run; }

std::optional<eval::DeltaM> Baselines::delta(const std::string& group, const RunResult& run, bool validation) const {
  auto it = by_group_.find(group);
  if (it == by_group_.end()) return std::nullopt;
  std::map<std::string, OrderedJson> base;
  for (const auto& [task, baseline] : it->second) base[task] = validation ? baseline->val : baseline->test;
  return eval::delta_m(validation ? run.val : run.test, base, run.tasks);
}

std::string delta_text(const RunResult& run, const std::optional<eval::DeltaM>& d) {
  if (run.single_task) return "+0.00 (baseline)";
  if (!d) return "n/a";
  if (!d->complete()) return "n/a (no single-task " + join(d->missing, ", ") + ")";
  return fmt::format("{:+.2f}", 100 * d->value);
}

}  // namespace densemtl::report
