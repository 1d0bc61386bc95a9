// densemtl train: train a model from an experiment config.
#include <iostream>
#include <memory>

#include "densemtl/cli/common.h"
#include "densemtl/core/config.h"
#include "densemtl/core/error.h"
#include "densemtl/train/experiment.h"
#include "densemtl/train/trainer.h"

namespace densemtl::cli {

namespace {
struct Options {
  std::string config, out;
  std::vector<std::string> sets;
  bool resume = false, help_config = false;
  int stop_after = 0;
};
}  // namespace

Subcommand add_train(CLI::App& root) {
  auto o = std::make_shared<Options>();
  CLI::App* app = root.add_subcommand("train", "Train a single-task or multi-task model from an experiment config");
  app->add_option("--config", o->config, "Experiment YAML (configs/<dataset>/<backbone>/<model>.yaml)");
  app->add_option("--set", o->sets, "Override a config key: --set train.epochs=5 (repeatable)");
  app->add_option("--out", o->out, "Run folder (default runs/<name>)");
  app->add_flag("--resume", o->resume, "Continue the run in --out from its last checkpoint");
  app->add_option("--stop-after", o->stop_after, "Train at most this many epochs now, then stop (continue later with --resume)")
      ->check(CLI::PositiveNumber);
  app->add_flag("--help-config", o->help_config, "List every config key with its type, default and meaning");
  return {app, [o]() {
            if (o->help_config) {
              std::cout << config::describe(experiment_schema());
              return 0;
            }
            if (o->config.empty()) throw UsageError("--config is required");
            train::TrainOptions t;
            t.config = o->config;
            t.overrides = o->sets;
            t.out = o->out;
            t.resume = o->resume;
            t.stop_after = o->stop_after;
            train::TrainResult r = train::train(t);
            if (r.leader) std::cout << "run: " << r.run_dir.string() << "\n" << format_metrics(r.test_metrics);
            return 0;
          }};
}

}  // namespace densemtl::cli
