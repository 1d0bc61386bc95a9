// densemtl info: what a dataset holds (and, with --check, whether every file of it reads).
#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>

#include "densemtl/cli/common.h"
#include "densemtl/core/error.h"
#include "densemtl/core/json.h"
#include "densemtl/data/dataset.h"
#include "densemtl/data/io/image.h"
#include "densemtl/data/summary.h"
#include "densemtl/report/mosaic.h"

namespace densemtl::cli {

namespace {

struct InfoOptions {
  std::string dataset, format, json, pictures;
  bool check = false;
  int threads = 0, count = 4;
};

}  // namespace

Subcommand add_info(CLI::App& root) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* app = root.add_subcommand("info", "Summarise a dataset: splits, tasks, class shares; --check reads every file");
  app->add_option("--dataset", o->dataset, "Dataset folder")->required();
  app->add_option("--format", o->format, "nyud | pascal | mtan (detected when not given)")->check(format_validator());
  app->add_flag("--check", o->check, "Read every file of every sample and list each bad one (exit 1 if any)");
  app->add_option("--threads", o->threads, "Threads for --check (0 = all cores)")->check(CLI::NonNegativeNumber);
  app->add_option("--json", o->json, "Also write the summary as JSON");
  app->add_option("--pictures", o->pictures, "Write a picture of the first --count training samples and their labels here");
  app->add_option("--count", o->count, "Samples to draw with --pictures")->check(CLI::Range(1, 10000))->capture_default_str();
  return {app, [o]() {
            std::optional<data::Format> format;
            if (!o->format.empty()) format = data::parse_format(o->format);
            auto ds = data::open_dataset(o->dataset, format);
            data::DatasetReport r = data::describe(*ds, o->check, o->threads);
            std::cout << r.text;
            if (!o->json.empty()) write_json(o->json, r.json);
            if (!o->pictures.empty()) {
              const auto& splits = ds->info().splits;
              std::string split = std::find(splits.begin(), splits.end(), "train") != splits.end() ? "train" : splits.front();
              auto ids = ds->ids(split);
              for (std::size_t i = 0; i < ids.size() && static_cast<int>(i) < o->count; ++i) {
                data::Sample s = ds->load(ids[i]);
                fs::path out = fs::path(o->pictures) / (split + "_" + std::to_string(i) + ".png");
                image::write_rgb(out, report::mosaic(report::sample_tiles(s, ds->info()), 4));
                std::cout << "picture: " << out.string() << "\n";
              }
            }
            return r.problems.empty() ? 0 : 1;
          }};
}

}  // namespace densemtl::cli
