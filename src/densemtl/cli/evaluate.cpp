// densemtl evaluate: score a trained run, or any folder of saved predictions.
#include <iostream>
#include <memory>

#include "densemtl/cli/common.h"
#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"
#include "densemtl/core/torch_setup.h"
#include "densemtl/data/dataset.h"
#include "densemtl/eval/evaluator.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/train/experiment.h"
#include "densemtl/train/run.h"

namespace densemtl::cli {

namespace {
struct Options {
  std::string dataset, format, split, predictions, tasks, json, run, device = "cpu";
  double edge_max_dist = 0;
  int threads = 0;
};
}  // namespace

Subcommand add_evaluate(CLI::App& root) {
  auto o = std::make_shared<Options>();
  CLI::App* app = root.add_subcommand(
      "evaluate", "Score a trained run (--run) or a prediction folder against a dataset (--dataset --split --predictions)");
  app->add_option("--run", o->run, "Run folder of densemtl train");
  app->add_option("--dataset", o->dataset, "Dataset folder");
  app->add_option("--format", o->format, "nyud | pascal | mtan (detected when not given)")->check(format_validator());
  app->add_option("--split", o->split, "Split to score (default: the run's test split)");
  app->add_option("--predictions", o->predictions, "Prediction folder: <task>/<id>.png (depth: .npy)");
  app->add_option("--tasks", o->tasks, "Comma-separated tasks (default: every task folder found)");
  app->add_option("--json", o->json, "Write the metrics here as JSON");
  app->add_option("--edge-max-dist", o->edge_max_dist, "Boundary tolerance (fraction of the diagonal; default per dataset)");
  app->add_option("--threads", o->threads, "Threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  app->add_option("--device", o->device, "cpu or cuda (with --run)")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  return {app, [o]() {
            setup_torch(o->threads);
            OrderedJson metrics;
            if (!o->run.empty()) {
              if (!o->predictions.empty() || !o->dataset.empty())
                throw UsageError("--run scores a run's model; use --dataset/--split/--predictions for a prediction folder");
              train::Run run = train::open_run(o->run);
              auto ds = open_experiment_dataset(run.config);
              std::string split = o->split.empty() ? run.config.get_string("data.test_split") : o->split;
              models::Architecture model = train::load_run_model(run, ds->info(), o->device);
              eval::EvalSetup s;
              s.ids = ds->ids(split);
              s.tasks = tasks::canonical(run.config.get_string_list("tasks.main"));
              s.pipeline = experiment_pipeline(run.config, ds->info());
              s.batch_size = static_cast<int>(run.config.get_int("eval.batch_size"));
              s.workers = static_cast<int>(run.config.get_int("data.workers"));
              s.metric = eval::metric_options(ds->info(), o->edge_max_dist > 0 ? o->edge_max_dist : run.config.get_float("eval.edge_max_dist"),
                                              static_cast<int>(run.config.get_int("eval.edge_thresholds")));
              s.predictions = run.predictions(split);
              s.device = o->device;
              s.channels_last = run.config.get_bool("model.channels_last");
              s.label = "evaluate";
              metrics = eval::evaluate_model(*model, *ds, s).metrics;
              std::cout << "run " << run.dir.string() << ", split " << split << " (predictions in "
                        << run.predictions(split).string() << ")\n";
            } else {
              if (o->dataset.empty() || o->split.empty() || o->predictions.empty())
                throw UsageError("give --run RUN_DIR, or --dataset DIR --split NAME --predictions DIR");
              std::optional<data::Format> format;
              if (!o->format.empty()) format = data::parse_format(o->format);
              auto ds = data::open_dataset(o->dataset, format);
              std::vector<std::string> task_list;
              if (!o->tasks.empty()) {
                task_list = tasks::canonical(split(o->tasks, ','));
              } else {
                for (const auto& t : ds->info().tasks)
                  if (fs::is_directory(fs::path(o->predictions) / t)) task_list.push_back(t);
                if (task_list.empty())
                  fail("{}: no prediction folder for any task of the dataset ({})", o->predictions, join(ds->info().tasks, ", "));
              }
              metrics = eval::evaluate_predictions(*ds, ds->ids(o->split), task_list, o->predictions,
                                                   eval::metric_options(ds->info(), o->edge_max_dist));
            }
            std::cout << format_metrics(metrics);
            if (!o->json.empty()) write_json(o->json, metrics);
            return 0;
          }};
}

}  // namespace densemtl::cli
