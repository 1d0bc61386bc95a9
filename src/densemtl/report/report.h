// `densemtl report RUN... --out DIR`: the runs side by side. Writes report.md, report.csv,
// report.html (self-contained, pictures embedded), loss curves and prediction mosaics as PNG.
// Multi-task runs get Delta_m against the single-task runs among the given ones that share
// their dataset, backbone and width; a trivial-predictor row shows the floor to beat.
#pragma once

#include <string>
#include <vector>

#include "densemtl/core/fs.h"

namespace densemtl::report {

struct ReportOptions {
  std::vector<fs::path> runs;
  fs::path out;
  int mosaics = 3;       // test images drawn side by side
  bool trivial = true;   // add the trivial predictor's row (needs the dataset)
};

// Returns the main table as text (also printed by the CLI).
std::string write_report(const ReportOptions& options);

}  // namespace densemtl::report
