// densemtl info: what a dataset holds (and, with --check, whether every file of it reads).
#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>

#include "densemtl/cli/common.h"
#include "densemtl/core/error.h"
#include "densemtl/core/json.h"
#include "densemtl/data/dataset.h"
#include "densemtl/vision/io/image.h"
#include "densemtl/data/summary.h"
#include "densemtl/core/config.h"
#include "densemtl/core/strings.h"
#include "densemtl/models/build.h"
#include "densemtl/report/mosaic.h"
#include "densemtl/train/experiment.h"
#include "densemtl/train/run.h"

namespace densemtl::cli {

namespace {

struct InfoOptions {
  std::string dataset, config, format, json, pictures;
  std::vector<std::string> sets;
  bool check = false, resolved = false;
  int threads = 0, count = 4;
};

int model_info(const std::string& file, const std::vector<std::string>& sets, const std::string& json) {
  Experiment x = Experiment::load(file, sets);
  data::DatasetInfo info = x.dataset_info();
  models::Architecture model = models::make_architecture(x.model_spec(info));
  models::ParameterCount pc = models::count_parameters(*model);
  cv::Size size = x.input_size(info);
  double gflops = 2.0 * static_cast<double>(models::count_macs(*model, size.height, size.width)) / 1e9;
  std::vector<std::string> groups;
  for (const auto& [g, n] : pc.groups) groups.push_back(fmt::format("{} {}", g, n));
  std::cout << fmt::format("model: {} ({}, {} head{}), tasks {}{}, balancer {}\n", x.model.architecture, x.model.backbone, x.model.head,
                           x.model.width == 1.0 ? "" : fmt::format(", width x{:g}", x.model.width), join(x.tasks.main, ", "),
                           x.tasks.aux.empty() ? "" : " (auxiliary " + join(x.tasks.aux, ", ") + ")", x.balancer)
            << fmt::format("parameters: {}\n", pc.text())
            << fmt::format("parameter groups: {}\n", join(groups, ", "))
            << fmt::format("FLOPs per image at {}x{}: {:.3f} G (2 x multiply-accumulates of convolutions and linear layers)\n",
                           size.height, size.width, gflops);
  if (!json.empty()) {
    OrderedJson j;
    j["parameters"] = pc.to_json();
    j["input_size"] = {size.height, size.width};
    j["gflops_per_image"] = gflops;
    write_json(json, j);
  }
  return 0;
}

}  // namespace

Subcommand add_info(CLI::App& root) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* app = root.add_subcommand(
      "info", "Summarise a dataset (--dataset: splits, tasks, class shares; --check reads every file) or a model "
              "(--config: parameters per component, FLOPs per image)");
  app->add_option("--dataset", o->dataset, "Dataset folder");
  app->add_option("--config", o->config, "Experiment config: describe its model");
  app->add_option("--set", o->sets, "Override a config key (with --config)");
  app->add_flag("--resolved", o->resolved,
                "With --config: print the resolved config (base files merged, --set applied, every default filled in) as a "
                "run's config.yaml holds it, instead of the model summary")
      ->needs(app->get_option("--config"));
  app->add_option("--format", o->format, "nyud | pascal | mtan (detected when not given)")->check(format_validator());
  app->add_flag("--check", o->check, "Read every file of every sample and list each bad one (exit 1 if any)");
  app->add_option("--threads", o->threads, "Threads for --check (0 = all cores)")->check(CLI::Range(0, 1024));
  app->add_option("--json", o->json, "Also write the summary as JSON")->check(path_validator());
  app->add_option("--pictures", o->pictures, "Write a picture of the first --count training samples and their labels here")->check(path_validator());
  app->add_option("--count", o->count, "Samples to draw with --pictures")->check(CLI::Range(1, 10000))->capture_default_str();
  return {app, [o]() {
            if (o->dataset.empty() == o->config.empty()) throw UsageError("give either --dataset DIR or --config FILE");
            if (!o->config.empty() && o->resolved) {
              std::cout << Experiment::load(o->config, o->sets).config->dump();
              return 0;
            }
            if (!o->config.empty()) return model_info(o->config, o->sets, o->json);
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
