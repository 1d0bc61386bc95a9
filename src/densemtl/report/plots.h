// Line plots through gnuplot (Debian's gnuplot-nox, pngcairo terminal), driven through a pipe.
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
  bool log_y = false;
  int width = 720, height = 420;
};

// Writes `png`; returns false (and says why in `error`) when gnuplot is missing or fails.
bool line_plot(const fs::path& png, const std::vector<Series>& series, const PlotOptions& options, std::string* error);

}  // namespace densemtl::report
