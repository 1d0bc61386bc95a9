#include "densemtl/report/figures.h"

#include <algorithm>

#include "densemtl/core/error.h"
#include "densemtl/eval/evaluator.h"
#include "densemtl/report/mosaic.h"
#include "densemtl/report/plots.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/vision/io/image.h"

namespace densemtl::report {

void Figures::add(bool drawn, const std::string& caption, const fs::path& png, const std::string& error) {
  if (drawn) list.push_back({caption, png});
  else problems.push_back(error);
}

namespace {

// `items` in consecutive parts of at most `size`.
template <typename T>
std::vector<std::vector<T>> parts(const std::vector<T>& items, std::size_t size) {
  std::vector<std::vector<T>> out;
  for (std::size_t k = 0; k < items.size(); k += size)
    out.emplace_back(items.begin() + static_cast<long>(k), items.begin() + static_cast<long>(std::min(items.size(), k + size)));
  return out;
}

fs::path numbered(const fs::path& stem, std::size_t k) {
  fs::path p = stem;
  p += fmt::format("_{}.png", k);
  return p;
}

}  // namespace

void loss_figures(Figures& figures, const fs::path& stem, const std::string& title, const std::vector<Labelled>& runs,
                  const std::vector<std::string>& tasks, std::size_t runs_per_figure) {
  std::vector<Labelled> with_losses;
  for (const auto& r : runs)
    for (const auto& t : tasks)
      if (r.run->has_task(t) && !r.run->val_losses(t).first.empty()) {
        with_losses.push_back(r);
        break;
      }
  const auto groups = parts(with_losses, runs_per_figure);
  for (std::size_t k = 0; k < groups.size(); ++k) {
    std::vector<Panel> panels;
    for (const auto& t : tasks) {
      Panel p{tasks::get(t).title() + ": validation loss", {}};
      for (std::size_t i = 0; i < groups[k].size(); ++i) {
        const Labelled& r = groups[k][i];
        auto [x, y] = r.run->val_losses(t);
        // Colour by the run's place, so that a run keeps its colour in every panel.
        if (r.run->has_task(t) && !x.empty()) p.series.push_back({r.label, x, y, false, static_cast<int>(i) + 1});
      }
      if (!p.series.empty()) panels.push_back(p);
    }
    PlotOptions po;
    po.title = "Validation losses, " + title;
    po.xlabel = "epoch";
    po.ylabel = "loss";
    po.log_y = true;
    po.width = 1000;
    std::string error;
    const fs::path png = numbered(stem, k);
    figures.add(line_panels(png, panels, po, &error),
                "Validation loss per epoch and task, every run overlaid" + (groups.size() > 1 ? fmt::format(" (part {})", k + 1) : "") +
                    " (" + title + ")",
                png, error);
  }
}

void delta_chart(Figures& figures, const fs::path& png, const std::string& title, const std::vector<Tradeoff>& rows) {
  if (rows.empty()) return;
  std::vector<Point> bars;
  for (const auto& r : rows) bars.push_back({r.label, 0, r.delta, r.delta_std});
  PlotOptions po;
  po.title = "Δm against the single-task runs, " + title;
  po.ylabel = "Δm (%)";
  po.width = std::max(700, 60 * static_cast<int>(rows.size()) + 200);
  po.height = 560;
  std::string error;
  figures.add(bar_plot(png, bars, po, &error), "Δm of every multi-task row, error bars the std over seeds (" + title + ")", png, error);
}

void pareto_figures(Figures& figures, const fs::path& dir, const std::string& title, const std::vector<Tradeoff>& rows) {
  if (rows.size() < 2) return;
  std::vector<Point> by_flops, by_params;
  for (const auto& r : rows) {
    by_flops.push_back({r.label, r.gflops, r.delta, r.delta_std});
    by_params.push_back({r.label, r.parameters * 1e-6, r.delta, r.delta_std});
  }
  PlotOptions po;
  po.title = "Δm against FLOPs, " + title;
  po.xlabel = "GFLOPs per image (densemtl, 2 × MAC)";
  po.ylabel = "Δm (%)";
  po.log_x = true;
  po.width = 900;
  po.height = 600;
  std::string error;
  figures.add(scatter_plot(dir / "pareto_flops.png", by_flops, po, true, &error), "Δm against FLOPs per image (" + title + ")",
              dir / "pareto_flops.png", error);
  po.title = "Δm against parameters, " + title;
  po.xlabel = "parameters (M)";
  figures.add(scatter_plot(dir / "pareto_params.png", by_params, po, true, &error), "Δm against parameters (" + title + ")",
              dir / "pareto_params.png", error);
}

void pr_figures(Figures& figures, const fs::path& dir, const std::string& title, const std::vector<Labelled>& runs,
                const std::vector<std::string>& task_names) {
  for (const auto& t : task_names) {
    const tasks::Task& task = tasks::get(t);
    std::vector<PrCurve> curves;
    for (const auto& r : runs) {
      if (!r.run->has_task(t) || !r.run->test.contains(t)) continue;
      if (auto c = task.pr_curve(r.run->test[t]))
        curves.push_back({r.label, c->recall, c->precision, c->ods_r, c->ods_p, c->ods_f});
    }
    const auto groups = parts(curves, 10);
    for (std::size_t k = 0; k < groups.size(); ++k) {
      PlotOptions po;
      po.title = task.title() + ", " + title;
      po.xlabel = "recall";
      po.ylabel = "precision";
      po.width = 900;
      po.height = 620;
      std::string error;
      const fs::path png = numbered(dir / (t + "_pr"), k);
      figures.add(pr_plot(png, groups[k], po, &error),
                  task.title() + ": precision-recall curves; the dot is the ODS point, grey lines are iso-F (" + title + ")", png,
                  error);
    }
  }
}

void per_class_figure(Figures& figures, const fs::path& dir, const std::string& title, const std::string& task,
                      const std::vector<ClassScores>& rows) {
  if (rows.empty()) return;
  std::vector<std::string> names, classes;
  for (const auto& [cls, v] : rows.front().values) classes.push_back(cls);
  std::vector<std::vector<double>> values;
  for (const auto& r : rows) {
    names.push_back(r.label);
    std::vector<double> v(classes.size(), NAN);
    for (const auto& [cls, score] : r.values) {
      auto it = std::find(classes.begin(), classes.end(), cls);
      if (it != classes.end()) v[static_cast<std::size_t>(it - classes.begin())] = score;
    }
    values.push_back(v);
  }
  const std::string what = tasks::get(task).title() + ": IoU per class";
  PlotOptions po;
  po.title = what + " (%), " + title;
  po.width = std::max(700, 60 * static_cast<int>(classes.size()) + 300);
  po.height = std::max(300, 22 * static_cast<int>(names.size()) + 200);
  std::string error;
  const fs::path png = dir / ("iou_" + task + ".png");
  figures.add(heatmap(png, names, classes, values, po, &error), what + " (" + title + ")", png, error);
}

namespace {

// One mosaic: the input, the ground truth, then each row's predictions.
cv::Mat mosaic_of(const data::Dataset& dataset, const std::string& id, const std::vector<std::string>& task_names,
                  const std::vector<MosaicRow>& rows) {
  std::vector<std::string> available;
  for (const auto& t : task_names)
    if (dataset.info().has_task(t)) available.push_back(t);
  const data::Sample s = dataset.load(id, available);
  const cv::Mat blank(s.image.size(), CV_8UC3, cv::Scalar::all(255));
  std::vector<Tile> tiles = {{"input", to_rgb8(s.image)}};
  for (const auto& t : task_names)
    tiles.emplace_back(t + " truth", s.has(t) ? tasks::get(t).draw(s.labels.at(t), dataset.info()) : blank);
  for (const auto& row : rows) {
    tiles.emplace_back("", text_tile(row.caption, blank.size()));
    for (const auto& t : task_names) {
      const fs::path file = eval::prediction_path(row.predictions, t, id);
      if (std::find(row.tasks.begin(), row.tasks.end(), t) == row.tasks.end() || !fs::exists(file)) {
        tiles.emplace_back("", blank);
        continue;
      }
      const tasks::Task& task = tasks::get(t);
      const cv::Mat* truth = s.has(t) ? &s.labels.at(t) : nullptr;
      tiles.emplace_back(t, task.draw(task.decode_prediction(task.read_prediction(file)), dataset.info(), truth));
    }
  }
  return mosaic(tiles, static_cast<int>(task_names.size()) + 1);
}

}  // namespace

void prediction_mosaics(Figures& figures, const fs::path& stem, const std::string& caption, const data::Dataset& dataset,
                        const std::string& split, int count, const std::vector<std::string>& tasks,
                        const std::vector<MosaicRow>& rows) {
  const std::vector<std::string> ids = dataset.ids(split);
  for (int i = 0; i < count && i < static_cast<int>(ids.size()); ++i) {
    const std::string& id = ids[static_cast<std::size_t>(i)];
    fs::path png = stem;
    png += fmt::format("{}.png", i);
    fs::create_directories(png.parent_path());
    image::write_rgb(png, mosaic_of(dataset, id, tasks, rows));
    figures.list.push_back({"Test image " + id + ": " + caption, png});
  }
}

}  // namespace densemtl::report
