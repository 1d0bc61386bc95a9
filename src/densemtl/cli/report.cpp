// densemtl report: several runs side by side.
#include <iostream>
#include <memory>

#include "densemtl/cli/common.h"
#include "densemtl/report/report.h"

namespace densemtl::cli {

Subcommand add_report(CLI::App& root) {
  auto o = std::make_shared<report::ReportOptions>();
  auto runs = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>();
  CLI::App* app = root.add_subcommand(
      "report", "Runs side by side: metrics, Delta_m against single-task runs, parameters, FLOPs, time, memory, curves, mosaics");
  app->add_option("runs", *runs, "Run folders")->required();
  app->add_option("--out", *out, "Report folder: report.md, report.csv, report.html, curves/, figures/, mosaics/")->required()->check(path_validator());
  app->add_option("--mosaics", o->mosaics, "Test images to draw")->check(CLI::Range(0, 1000))->capture_default_str();
  app->add_flag("--no-trivial", [o](std::int64_t) { o->trivial = false; }, "Leave out the trivial-predictor row");
  return {app, [o, runs, out]() {
            for (const auto& r : *runs) o->runs.emplace_back(r);
            o->out = *out;
            std::string table = report::write_report(*o);
            std::cout << table << "report: " << (o->out / "report.html").string() << ", report.md, report.csv\n";
            return 0;
          }};
}

}  // namespace densemtl::cli
