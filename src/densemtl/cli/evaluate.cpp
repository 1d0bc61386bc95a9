// densemtl evaluate: score a trained run, or any folder of saved predictions.
#include <iostream>
#include <memory>

#include "densemtl/cli/common.h"
#include "densemtl/core/error.h"
#include "densemtl/core/log.h"
#include "densemtl/core/strings.h"
#include "densemtl/core/torch_setup.h"
#include "densemtl/data/dataset.h"
#include "densemtl/dist/process_group.h"
#include "densemtl/eval/evaluator.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/train/experiment.h"
#include "densemtl/train/run.h"

namespace densemtl::cli {

namespace {

// The run's config with tasks.edge.max_dist replaced by --edge-max-dist (when given).
std::shared_ptr<const config::Config> edge_override(const config::Config& cfg, double max_dist) {
  if (max_dist <= 0 || !cfg.has("tasks.edge")) return std::make_shared<const config::Config>(cfg);
  return std::make_shared<const config::Config>(
      config::Config::parse(experiment_schema(), cfg.dump(), cfg.source(), {fmt::format("tasks.edge.max_dist={}", max_dist)}));
}

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
  app->add_option("--json", o->json, "Write the metrics here as JSON")->check(path_validator());
  app->add_option("--edge-max-dist", o->edge_max_dist, "Boundary tolerance (fraction of the diagonal; default per dataset)");
  app->add_option("--threads", o->threads, "Threads (0 = all cores)")->check(CLI::Range(0, 1024));
  app->add_option("--device", o->device, "cpu or cuda (with --run)")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  return {app, [o]() {
            setup_torch(o->threads);
            OrderedJson metrics;
            // Under a launcher (densemtl launch, torchrun, Slurm) a run's model is scored by
            // several processes: each scores its share of the batches; the metrics are pooled.
            std::unique_ptr<dist::ProcessGroup> group;
            if (!o->run.empty()) {
              if (!o->predictions.empty() || !o->dataset.empty())
                throw UsageError("--run scores a run's model; use --dataset/--split/--predictions for a prediction folder");
              train::Run run = train::open_run(o->run);
              const Experiment& x = run.experiment;
              group = dist::join_launch({x.distributed.backend, o->device, x.distributed.timeout});
              auto ds = x.open_dataset();
              std::string split = o->split.empty() ? x.data.test_split : o->split;
              const std::string device = group ? group->device_for(o->device) : o->device;
              models::Architecture model = train::load_run_model(run, ds->info(), device);
              eval::EvalSetup s;
              s.ids = ds->ids(split);
              s.tasks = tasks::TaskSet(x.tasks.main, edge_override(*x.config, o->edge_max_dist).get());
              s.pipeline = x.pipeline(ds->info());
              s.batch_size = x.eval.batch_size;
              s.workers = x.data.workers;
              s.threads = o->threads;
              s.predictions = run.predictions(split);
              s.device = device;
              s.channels_last = x.model.channels_last;
              s.label = "evaluate";
              s.shard_over_processes = group != nullptr;
              metrics = eval::evaluate_model(*model, *ds, s).metrics;
              if (group) {
                group->barrier();  // every prediction file written before anyone reports
                if (group->rank() != 0) return 0;
              }
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
                for (const auto& t : task_list)
                  if (!fs::is_directory(fs::path(o->predictions) / t))
                    fail("{}: no prediction folder {}/ for task {} (named by --tasks)", o->predictions, t, t);
              } else {
                std::vector<std::string> absent;
                for (const auto& t : ds->info().tasks)
                  (fs::is_directory(fs::path(o->predictions) / t) ? task_list : absent).push_back(t);
                if (task_list.empty())
                  fail("{}: no prediction folder for any task of the dataset ({})", o->predictions, join(ds->info().tasks, ", "));
                if (!absent.empty())
                  log_warn("{}: scoring {}; no predictions for the dataset's {} (no folder)", o->predictions, join(task_list, ", "),
                           join(absent, ", "));
              }
              std::shared_ptr<const config::Config> edge;
              if (o->edge_max_dist > 0)
                edge = tasks::task_options(fmt::format("tasks: {{edge: {{max_dist: {}}}}}", o->edge_max_dist), "--edge-max-dist");
              metrics = eval::evaluate_predictions(*ds, ds->ids(o->split), tasks::TaskSet(task_list, edge.get()), o->predictions, o->threads);
            }
            for (const auto& [task, m] : metrics.items())
              if (!eval::primary_metric(metrics, task))  // scored on no image
                log_warn("{}: no image of the split is labelled for it: nothing scored (Δm leaves it out)", task);
            std::cout << format_metrics(metrics);
            if (!o->json.empty()) write_json(o->json, metrics);
            return 0;
          }};
}

}  // namespace densemtl::cli
