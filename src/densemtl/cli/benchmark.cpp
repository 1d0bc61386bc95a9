// densemtl benchmark: a protocol x grid of cells (architecture x balancer x seed, and their
// single-task runs), trained into one results folder (shardable, resumable), then the tables.
#include <iostream>
#include <memory>
#include <regex>

#include "densemtl/cli/common.h"
#include "densemtl/core/error.h"
#include "densemtl/core/log.h"
#include "densemtl/core/strings.h"
#include "densemtl/suite/protocol.h"
#include "densemtl/suite/runner.h"
#include "densemtl/suite/tables.h"

namespace densemtl::cli {

namespace {
struct Options {
  std::string protocol, grid, out, shard = "1/1";
  std::vector<std::string> sets;
  bool resume = false, tables_only = false, dry_run = false;
  int mosaics = 3;
};
}  // namespace

Subcommand add_benchmark(CLI::App& root) {
  auto o = std::make_shared<Options>();
  CLI::App* app = root.add_subcommand(
      "benchmark", "Train a grid of architectures x balancers x seeds under one protocol and write the survey-style tables");
  app->add_option("--protocol", o->protocol, "Protocol YAML: the recipe every cell shares (protocols/*.yaml)")->required();
  app->add_option("--grid", o->grid, "Grid YAML: seeds and the architecture x balancer cells (protocols/grids/*.yaml)")->required();
  app->add_option("--out", o->out, "Results folder (shared by every shard)")->required()->check(path_validator());
  app->add_option("--set", o->sets, "Override a config key in every cell: --set data.root=/data/NYUD_MT (repeatable)");
  app->add_option("--shard", o->shard, "Train every N-th cell from the I-th (1-based): a job array's task I of N")
      ->capture_default_str();
  app->add_flag("--resume", o->resume, "Continue interrupted cells from their checkpoints and retry failed ones");
  app->add_flag("--tables-only", o->tables_only, "Train nothing: write the tables from the cells finished so far");
  app->add_flag("--dry-run", o->dry_run, "Check the protocol and grid, list the cells (with their shard) and stop");
  app->add_option("--mosaics", o->mosaics, "Test images drawn per backbone group")->check(CLI::Range(0, 1000))->capture_default_str();
  return {app, [o]() {
            std::smatch m;
            static const std::regex shard_re(R"(^\s*(\d+)\s*/\s*(\d+)\s*$)");
            if (!std::regex_match(o->shard, m, shard_re) || m[1].length() > 6 || m[2].length() > 6)
              throw UsageError("--shard " + o->shard + ": expected I/N with 1 <= I <= N <= 999999, e.g. 2/8");
            const int i = std::stoi(m[1]), n = std::stoi(m[2]);
            if (n < 1 || i < 1 || i > n) throw UsageError("--shard " + o->shard + ": expected 1 <= I <= N");
            const suite::Benchmark b = suite::load_benchmark(o->protocol, o->grid, o->out, o->sets);
            if (o->dry_run) {
              std::cout << fmt::format("benchmark {}: {} cells, seeds {}\n", b.name, b.cells.size(), b.seeds.size());
              for (std::size_t k = 0; k < b.cells.size(); ++k) {
                const auto& c = b.cells[k];
                std::cout << fmt::format("  shard {}/{}  {}{}\n", k % static_cast<std::size_t>(n) + 1, n, c.name,
                                         c.needs.empty() ? "" : "  (starts from " + join(c.needs, ", ") + ")");
              }
              return 0;
            }
            suite::RunSummary s;
            if (!o->tables_only) {
              suite::RunOptions r;
              r.out = o->out;
              r.shard = i - 1;
              r.shards = n;
              r.resume = o->resume;
              if (spdlog::get_level() >= spdlog::level::warn) r.flags.push_back("-q");
              else if (spdlog::get_level() <= spdlog::level::debug) r.flags.push_back("-v");
              s = suite::run_cells(b, r);
              log_info("benchmark: shard {}/{}: {} trained now, {} finished before, {} left to other processes, {} failed", i, n,
                       s.trained, s.finished_before, s.elsewhere.size(), s.failed.size());
            } else {
              suite::check_manifest(b, o->out, false);
            }
            suite::TablesOptions t;
            t.mosaics = o->mosaics;
            std::cout << suite::write_tables(b, o->out, t);
            std::cout << "results: " << (fs::path(o->out) / "results.html").string() << ", results.md, results.csv, results.json\n";
            for (const auto& f : s.failed) std::fprintf(stderr, "densemtl benchmark: failed: %s\n", f.c_str());
            return s.failed.empty() ? 0 : 1;
          }};
}

}  // namespace densemtl::cli
