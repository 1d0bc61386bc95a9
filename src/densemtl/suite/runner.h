// Running a benchmark's cells into one results folder, shardable over processes and machines:
//   <out>/benchmark.json        the protocol and grid (a folder holds one benchmark)
//   <out>/cells/<cell>/config.yaml, lock, run/ (a run folder), failed.txt when it failed
//   <out>/results.{md,csv,json,html}, figures/ (suite/tables.h)
// Shard I of N trains cells I, I+N, I+2N, ... of the benchmark's order. Each cell is trained by
// a child process (`densemtl train`) while this process holds the cell's lock: a POSIX record
// lock on cells/<cell>/lock, released by the kernel when the holder dies, so a killed shard never
// leaves a stale lock, and two processes racing on one cell cannot both train it. (The results
// folder must be on a file system with POSIX locks: local disks, NFSv4, Lustre, GPFS.) A cell
// that starts from single-task runs (cross-stitch, NDDR-CNN) trains them first if nobody has, or
// waits while another process does.
#pragma once

#include <string>
#include <vector>

#include "densemtl/core/file_lock.h"
#include "densemtl/core/fs.h"
#include "densemtl/suite/protocol.h"

namespace densemtl::suite {

struct RunOptions {
  fs::path out;
  int shard = 0, shards = 1;
  // Continue cells that were interrupted (from their last checkpoint) and retry failed ones;
  // without it such a cell is an error. Finished cells are always kept.
  bool resume = false;
  fs::path executable = "/proc/self/exe";  // the densemtl program that trains a cell
  std::vector<std::string> flags;          // before `train`: -q, -v
};

struct RunSummary {
  int finished_before = 0;            // kept from earlier runs
  int trained = 0;                    // trained (or completed) now
  std::vector<std::string> elsewhere; // being trained by another process
  std::vector<std::string> failed;    // "cell: why"
};

// Records (or checks) the manifest, then trains this shard's cells. Errors before training (a
// folder of another benchmark, interrupted cells without `resume`) are densemtl::Errors; a cell
// that fails is reported and the others go on.
RunSummary run_cells(const Benchmark& benchmark, const RunOptions& options);

// The folder's manifest (benchmark.json): created once, atomically, when `create`; a folder of
// another protocol, grid or --set values is an error.
void check_manifest(const Benchmark& benchmark, const fs::path& out, bool create);

// Whether a cell's run is complete (its run.json is written last).
bool cell_finished(const fs::path& out, const std::string& cell);

using densemtl::FileLock;

}  // namespace densemtl::suite
