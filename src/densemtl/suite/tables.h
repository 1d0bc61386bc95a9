// A benchmark's results, as the survey prints them, from the finished cells of a results folder:
//   results.md / results.html   one table per backbone group: per-task metrics as mean ± standard
//                               deviation over seeds, Δm against the group's own single-task runs
//                               (per seed, then mean ± std), parameters, FLOPs per image (densemtl's
//                               2 × MAC and the survey's convention, a quarter of it), training
//                               time and peak memory; "†" where a difference is within the spread
//   results.json / results.csv  the same for scripts (cells.csv: one line per cell and seed)
//   figures/                    Pareto plots (Δm against FLOPs and parameters), boundary
//                               precision-recall curves (iso-F lines, ODS points), per-class IoU
//                               heat maps, validation loss curves overlaid per task, and mosaics of
//                               each architecture's best cell (chosen on validation Δm)
// Unfinished cells are listed with their state (pending, being trained, failed and why).
#pragma once

#include <string>

#include "densemtl/core/fs.h"
#include "densemtl/suite/protocol.h"

namespace densemtl::suite {

struct TablesOptions {
  int mosaics = 3;       // test images drawn per group (0: none)
  bool figures = true;   // plots and mosaics (gnuplot, the dataset)
};

// Writes every results file into `out` (atomically, one process at a time) and returns the
// Markdown tables.
std::string write_tables(const Benchmark& benchmark, const fs::path& out, const TablesOptions& options = {});

}  // namespace densemtl::suite
