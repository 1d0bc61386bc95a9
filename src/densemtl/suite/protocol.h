// A benchmark: a protocol (the recipe every cell shares) and a grid (the cells), expanded into one
// experiment config per cell.
//
// Protocol file (YAML; every key checked, unknown or duplicate keys are errors):
//   name: nyud-resnet50                # the benchmark's name (tables, HTML title)
//   description: "..."                 # where the recipe comes from
//   config: {...}                      # experiment-config keys every cell shares (data, tasks,
//                                      #   optimizer, scheduler, train, eval, ...)
//   single_task: {...}                 # keys for the single-task cells only (their own recipe)
//   backbones:                         # backbone groups; each gets its own single-task runs
//     resnet50: {config: {...}, single_task: {...}}
//   architectures:                     # every architecture a grid may name: its group and keys
//     baseline: {backbone: resnet50}
//     cross_stitch: {backbone: resnet50, config: {optimizer: {name: sgd, lr: 1.0e-3}}}
//   balancers:                         # optional keys per balancer
//     gradnorm: {config: {...}}
// Grid file:
//   seeds: [0, 1]
//   single_task: true                  # add the single-task runs the cells are scored against
//   cells:                             # each entry: every architecture x every balancer listed
//     - {architectures: [baseline, mtan], balancers: [fixed]}
//     - {architectures: [baseline], balancers: all}
// A cell's config is config <- backbone group <- (single_task | architecture) <- balancer <- the
// --set values, then the cell's own keys: model.architecture, balancer.name, seed, name, for a
// single-task cell its one task (loss weights of the others dropped), and for architectures built
// from single-task networks (cross-stitch, NDDR-CNN) the grid's single-task runs of the same seed
// and group. Every cell's config is validated when the benchmark is loaded, before anything trains.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "densemtl/core/fs.h"

namespace densemtl::suite {

struct Cell {
  std::string name;          // unique; also its folder under <out>/cells/
  std::string group;         // the protocol's backbone group
  std::string architecture;  // "single_task" for the baselines
  std::string balancer;      // "fixed" for single-task cells
  std::string task;          // single-task cells: their task
  std::uint64_t seed = 0;
  std::vector<std::string> tasks;  // main tasks
  std::vector<std::string> needs;  // names of the cells this one starts from
  std::string config;        // the resolved experiment config (YAML), run folder paths included
  fs::path data_root;        // its data.root
  bool single_task() const { return !task.empty(); }
  // The row of the tables this cell belongs to: group/architecture/balancer (single-task cells of
  // one group share the row "<group>/single_task").
  std::string row() const;
};

struct Benchmark {
  std::string name, description;
  fs::path protocol_file, grid_file;
  std::string protocol_text, grid_text;  // as read, for the results folder's manifest
  std::vector<std::string> sets;         // --set values applied to every cell
  std::vector<std::string> groups;       // backbone groups, protocol order
  std::vector<std::uint64_t> seeds;
  std::vector<Cell> cells;               // single-task cells first, then the grid's order

  const Cell& cell(const std::string& name) const;
  // Where a cell's files live: <out>/cells/<name>/ (run/ is its run folder).
  static fs::path cell_dir(const fs::path& out, const std::string& name) { return out / "cells" / name; }
  static fs::path run_dir(const fs::path& out, const std::string& name) { return cell_dir(out, name) / "run"; }
};

// Reads and checks both files and expands the grid; `out` is the results folder (cells that
// start from single-task runs name their folders). A problem is a one-line densemtl::Error naming
// the file and key (or the cell, for an experiment key a cell's config gets wrong).
Benchmark load_benchmark(const fs::path& protocol, const fs::path& grid, const fs::path& out,
                         const std::vector<std::string>& sets = {});

}  // namespace densemtl::suite
