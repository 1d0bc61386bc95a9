// The figures of results pages, shared by `densemtl report` and the benchmark tables: validation
// losses overlaid per task, a Δm chart, Pareto plots, the precision-recall curves and per-class
// heat maps that tasks declare (Task::pr_curve, Task::per_class), and prediction mosaics. Each is
// drawn into a PNG; one that cannot be drawn (gnuplot missing, say) is left out and the reason
// kept, so that a page says what is missing instead of failing.
#pragma once

#include <string>
#include <vector>

#include "densemtl/core/fs.h"
#include "densemtl/data/dataset.h"
#include "densemtl/report/format.h"
#include "densemtl/report/results.h"

namespace densemtl::report {

struct Figures {
  std::vector<Figure> list;
  std::vector<std::string> problems;  // why some figures are missing
  // Keeps `png` when `drawn`, else the reason.
  void add(bool drawn, const std::string& caption, const fs::path& png, const std::string& error);
};

// A row of a results table as the figures see it: its label and one run (a report's run, or the
// first finished seed of a benchmark row).
struct Labelled {
  std::string label;
  const RunResult* run = nullptr;
};

// Every run's validation loss per epoch, one panel per task (the runs' colours the same in every
// panel), `runs_per_figure` runs to a PNG: `stem`_0.png, `stem`_1.png, ...
void loss_figures(Figures& figures, const fs::path& stem, const std::string& title, const std::vector<Labelled>& runs,
                  const std::vector<std::string>& tasks, std::size_t runs_per_figure = 10);

// A row's place in the Δm chart and the Pareto plots (mean over seeds; std 0 for one seed).
struct Tradeoff {
  std::string label;
  double delta = 0, delta_std = 0;  // Δm, %
  double gflops = 0, parameters = 0;
};
// Δm of every row as bars with their spread.
void delta_chart(Figures& figures, const fs::path& png, const std::string& title, const std::vector<Tradeoff>& rows);
// Δm against FLOPs per image and against parameters, each with its Pareto front (at least two rows).
void pareto_figures(Figures& figures, const fs::path& dir, const std::string& title, const std::vector<Tradeoff>& rows);

// The precision-recall curves of every task that declares them, ten runs to a plot:
// `dir`/<task>_pr_0.png, ...
void pr_figures(Figures& figures, const fs::path& dir, const std::string& title, const std::vector<Labelled>& runs,
                const std::vector<std::string>& tasks);

// One row of a per-class heat map: its label and a score per class, in the dataset's order.
struct ClassScores {
  std::string label;
  std::vector<std::pair<std::string, double>> values;
};
// A heat map of `task`'s per-class scores (`dir`/iou_<task>.png), columns in the first row's order.
void per_class_figure(Figures& figures, const fs::path& dir, const std::string& title, const std::string& task,
                      const std::vector<ClassScores>& rows);

// One row of a prediction mosaic: a caption and the run's stored predictions of the split.
struct MosaicRow {
  std::string caption;
  fs::path predictions;  // <run>/predictions/<split>
  std::vector<std::string> tasks;
};
// The first `count` images of `split`: the input and every task's ground truth in the first row,
// then each row's stored predictions (blank where a row lacks the task): `stem`<i>.png.
void prediction_mosaics(Figures& figures, const fs::path& stem, const std::string& caption, const data::Dataset& dataset,
                        const std::string& split, int count, const std::vector<std::string>& tasks,
                        const std::vector<MosaicRow>& rows);

}  // namespace densemtl::report
