// Line plots through gnuplot (Debian's gnuplot-nox, pngcairo terminal), driven through a pipe.
// Every name reaches gnuplot as data: titles and labels are single-quoted strings with quotes
// doubled and control characters (line breaks) turned into spaces, data files hold numbers and
// quoted labels only, so no name can run a gnuplot command.
#pragma once

#include <string>
#include <vector>

#include "densemtl/core/fs.h"

namespace densemtl::report {

struct Series {
  std::string name;
  std::vector<double> x, y;
  bool dashed = false;
  int colour = 0;  // series with the same colour index share a colour (0 = automatic)
};

struct PlotOptions {
  std::string title, xlabel, ylabel;
  bool log_x = false, log_y = false;
  int width = 720, height = 420;
};

// Writes `png`; returns false (and says why in `error`) when gnuplot is missing or fails.
bool line_plot(const fs::path& png, const std::vector<Series>& series, const PlotOptions& options, std::string* error);

// Line plots stacked in one picture, one panel per entry (its own title), sharing the x label,
// the y label and the scales of `options`; `options.height` is each panel's.
struct Panel {
  std::string title;
  std::vector<Series> series;
};
bool line_panels(const fs::path& png, const std::vector<Panel>& panels, const PlotOptions& options, std::string* error);

// A labelled point with a vertical error bar (err = 0: none).
struct Point {
  std::string label;
  double x = 0, y = 0, err = 0;
};
// Bars at y (labels below them, rotated) with error bars of ±err where err > 0, and the line y = 0.
bool bar_plot(const fs::path& png, const std::vector<Point>& bars, const PlotOptions& options, std::string* error);
// Points with their labels (placed beside them); `front` draws the Pareto front of lower x and
// higher y as a step line (the points no other point beats on both).
bool scatter_plot(const fs::path& png, const std::vector<Point>& points, const PlotOptions& options, bool front, std::string* error);

// A precision-recall curve (recall ascending or not) and its best F point.
struct PrCurve {
  std::string name;
  std::vector<double> recall, precision;
  double ods_r = 0, ods_p = 0, ods_f = 0;
};
// Precision-recall curves as the BSDS benchmark draws them: axes 0..1, iso-F contours
// (F = 0.1 ... 0.9) in grey, each curve's ODS point marked and its F in the legend.
bool pr_plot(const fs::path& png, const std::vector<PrCurve>& curves, const PlotOptions& options, std::string* error);

// A heat map: one row per `rows` entry, one column per `columns` entry, each cell's value printed
// in it (NaN: left blank).
bool heatmap(const fs::path& png, const std::vector<std::string>& rows, const std::vector<std::string>& columns,
             const std::vector<std::vector<double>>& values, const PlotOptions& options, std::string* error);

}  // namespace densemtl::report
