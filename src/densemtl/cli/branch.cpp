// densemtl branch: chooses a branched network's tree from single-task runs (task affinity by
// representation similarity analysis, every tree under a budget) and writes a config that
// `densemtl train` trains.
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <iostream>
#include <memory>

#include "densemtl/cli/common.h"
#include "densemtl/core/error.h"
#include "densemtl/core/log.h"
#include "densemtl/core/strings.h"
#include "densemtl/core/torch_setup.h"
#include "densemtl/train/branching.h"

namespace densemtl::cli {

namespace {

struct BranchOptions {
  std::string config, budget, out, json, cache, learned;
  std::vector<std::string> sets, runs;
  int images = 500, pool = 0, top = 5;
  double memory_gb = 2.0;
  bool shared_stem = false, force = false;
};

std::string matrix_text(const branching::Affinity& a, std::size_t d) {
  std::string s = fmt::format("  {:<10}", "");
  for (const auto& t : a.tasks) s += fmt::format("{:>9}", t);
  s += "\n";
  auto m = a.matrices[d].to(torch::kFloat64).contiguous();
  for (std::size_t i = 0; i < a.tasks.size(); ++i) {
    s += fmt::format("  {:<10}", a.tasks[i]);
    for (std::size_t j = 0; j < a.tasks.size(); ++j)
      s += fmt::format("{:>9.3f}", m[static_cast<std::int64_t>(i)][static_cast<std::int64_t>(j)].item<double>());
    s += "\n";
  }
  return s;
}

std::string millions(std::int64_t n) { return fmt::format("{:.3f} M", static_cast<double>(n) / 1e6); }
std::string gflops(std::int64_t macs) { return fmt::format("{:.3f} GFLOPs", 2.0 * static_cast<double>(macs) / 1e9); }

OrderedJson candidate_json(const branching::Candidate& c) {
  return {{"tree", c.tree.entries()}, {"partitions", c.tree.text()}, {"cost", c.cost}, {"params", c.params}, {"flops", 2 * c.macs}};
}

// Writes `x`'s resolved config with the branched architecture and `tree` (config entries) to
// `out` (atomically), preceded by `header`, and checks that `densemtl train` reads it.
void write_branched_config(const Experiment& x, const std::vector<std::string>& tree, const std::string& header, const std::string& out) {
  YAML::Node root = YAML::Load(x.config->dump());
  const std::string previous = x.model.architecture;
  if (previous != "branched" && root["model"][previous]) root["model"].remove(previous);
  root["model"]["architecture"] = "branched";
  YAML::Node entries(YAML::NodeType::Sequence);
  for (const auto& e : tree) entries.push_back(e);
  root["model"]["branched"]["tree"] = entries;
  YAML::Emitter emitter;
  emitter << root;
  const config::Config written = config::Config::parse(experiment_schema(), emitter.c_str(), out);
  fs::path file(out);
  if (file.has_parent_path()) fs::create_directories(file.parent_path());
  {
    std::ofstream f(out + ".tmp");
    f << header << written.dump();
    if (!f) fail("{}: cannot write", out);
  }
  fs::rename(out + ".tmp", file);
  Experiment::load(file);  // what `densemtl train` will read
}

// The config to write must not be one it reads, nor replace a file without --force.
void check_out(const BranchOptions& o) {
  std::error_code ec;
  if (!fs::exists(o.out, ec)) return;
  if (!o.config.empty() && fs::exists(o.config, ec) && fs::equivalent(o.out, o.config, ec))
    fail("--out {}: is the --config file it would branch; write the branched config to another file", o.out);
  if (!o.force) fail("--out {}: exists; pass --force to replace it", o.out);
}

// --learned: the tree a Learning to Branch run has learned.
int export_learned(const BranchOptions& o) {
  if (!o.runs.empty() || !o.budget.empty())
    throw UsageError("--learned exports the tree of a learning_to_branch run; --runs and --budget choose one by task affinity: give one or the other");
  train::Run run = train::open_run(o.learned);
  const Experiment& x = run.experiment;
  if (x.model.architecture != "learning_to_branch")
    fail("--learned {}: a {} run; the learned tree comes from a learning_to_branch run", o.learned, x.model.architecture);
  setup_torch(x.threads);
  const data::DatasetInfo info = x.dataset_info();
  models::Architecture model = train::load_run_weights(run, info);
  std::cout << fmt::format("Parent probabilities (softmax of the learned logits) of {}:\n", run.dir.string());
  for (const auto& p : model->named_parameters()) {
    if (p.key().rfind("logits.", 0) != 0) continue;
    torch::Tensor prob = torch::softmax(p.value().detach().to(torch::kFloat64), 1);
    std::cout << fmt::format("{} (node: parent probabilities)\n", p.key());
    for (std::int64_t c = 0; c < prob.size(0); ++c) {
      std::string row;
      for (std::int64_t q = 0; q < prob.size(1); ++q) row += fmt::format(" {:.3f}", prob[c][q].item<double>());
      std::cout << fmt::format("  {}:{}\n", c, row);
    }
  }
  const std::vector<std::string> entries = model->learned_tree();
  models::ModelSpec spec = x.model_spec(info);
  spec.architecture = "branched";
  const models::Tree tree = models::Tree::parse(entries, x.tasks.main, models::tree_blocks(spec.backbone), "learned tree");
  const cv::Size size = x.input_size(info);
  const models::BlockCosts costs = models::block_costs(spec, size.height, size.width);
  std::cout << fmt::format("\nlearned tree: {}\n  {} parameters ({}), {} per image at {}x{}\n", tree.text(), costs.params(tree),
                           millions(costs.params(tree)), gflops(costs.macs(tree)), size.height, size.width);
  for (const auto& e : entries) std::cout << "  " << e << "\n";
  check_out(o);
  write_branched_config(x, entries,
                        fmt::format("# Branched multi-task network: the tree learned by the Learning to Branch run {}\n"
                                    "# (the most likely parent of every node): {}\n# {} parameters, {} per image at {}x{}; train it from "
                                    "scratch.\n",
                                    run.dir.string(), tree.text(), costs.params(tree), gflops(costs.macs(tree)), size.height, size.width),
                        o.out);
  std::cout << fmt::format("\nwrote {}: train it with  densemtl train --config {}\n", o.out, o.out);
  return 0;
}

int run_branch(const BranchOptions& o) {
  if (!o.learned.empty()) return export_learned(o);
  if (o.config.empty() || o.runs.empty() || o.budget.empty())
    throw UsageError("give --config FILE --runs ST_RUN... --budget B (choose by task affinity), or --learned RUN");
  Experiment x = Experiment::load(o.config, o.sets);
  setup_torch(x.threads);
  if (!x.tasks.aux.empty())
    fail("{}: tasks.aux: a branched network has no auxiliary tasks (got {})", x.source(), join(x.tasks.aux, ", "));
  if (x.tasks.main.size() < 2) fail("{}: tasks.main: branching needs two or more tasks", x.source());
  auto runs = train::open_single_task_runs(o.runs, x, "--runs");
  const data::DatasetInfo info = x.dataset_info();
  models::ModelSpec spec = x.model_spec(info);
  spec.architecture = "branched";
  const cv::Size size = x.input_size(info);
  const models::BlockCosts costs = models::block_costs(spec, size.height, size.width);
  const std::size_t blocks = costs.block_params.size();
  const models::Tree shared = models::Tree::shared(x.tasks.main, blocks);
  const branching::Budget budget = branching::parse_budget(o.budget, costs, shared, "--budget");

  branching::AffinityOptions ao;
  ao.images = o.images;
  ao.pool = o.pool;
  ao.memory_gb = o.memory_gb;
  ao.cache = o.cache;
  branching::Affinity a = branching::measure_affinity(x, runs, ao);

  std::cout << fmt::format("Task affinity (Spearman correlation of the single-task networks' dissimilarity matrices; {} training "
                           "images, {}):\n",
                           a.images, a.features);
  for (std::size_t d = 0; d < blocks; ++d) std::cout << fmt::format("block {} ({})\n", d + 1, a.locations[d]) << matrix_text(a, d);

  const std::vector<models::Tree> trees = branching::enumerate_trees(x.tasks.main, blocks, o.shared_stem);
  const std::vector<branching::Candidate> ranked = branching::rank_trees(trees, a.matrices, costs, budget);
  const bool by_params = budget.kind == branching::Budget::Kind::Params;
  const std::string budget_text =
      by_params ? fmt::format("{} parameters", millions(static_cast<std::int64_t>(budget.value)))
                : fmt::format("{:.3f} GFLOPs per image at {}x{}", budget.value / 1e9, size.height, size.width);
  std::cout << fmt::format("\n{} trees over {} tasks and {} blocks{}; {} within the budget ({}: {})\n", trees.size(),
                           x.tasks.main.size(), blocks, o.shared_stem ? " (first block shared)" : "", ranked.size(), budget.text,
                           budget_text);
  const models::Tree separate = models::Tree::separate(x.tasks.main, blocks);
  std::cout << fmt::format("  for scale: fully shared {} params, {}; no sharing {} params, {} (at {}x{})\n",
                           millions(costs.params(shared)), gflops(costs.macs(shared)), millions(costs.params(separate)),
                           gflops(costs.macs(separate)), size.height, size.width);
  if (ranked.empty())
    fail("--budget {}: no tree fits; the smallest is the fully shared network with {} parameters and {} per image", budget.text,
         millions(costs.params(shared)), gflops(costs.macs(shared)));
  const branching::Candidate& best = ranked.front();
  std::cout << fmt::format("\nchosen tree: {}\n  cost {:.4f}, {} parameters ({}), {} per image at {}x{}\n", best.tree.text(), best.cost,
                           best.params, millions(best.params), gflops(best.macs), size.height, size.width);
  for (const auto& e : best.tree.entries()) std::cout << "  " << e << "\n";
  if (ranked.size() > 1) {
    std::cout << "runners-up:\n";
    for (std::size_t i = 1; i < ranked.size() && static_cast<int>(i) <= o.top; ++i)
      std::cout << fmt::format("  {:>2}. cost {:.4f}  {:>12}  {:>16}  {}\n", i + 1, ranked[i].cost, millions(ranked[i].params),
                               gflops(ranked[i].macs), ranked[i].tree.text());
  }

  check_out(o);
  write_branched_config(x, best.tree.entries(),
                        fmt::format("# Branched multi-task network chosen by densemtl branch from {} (single-task runs: {}).\n"
                                    "# Task affinity by representation similarity analysis on {} training images ({}); the tree of least\n"
                                    "# dissimilarity cost within the budget {}: {}\n"
                                    "# cost {:.4f}, {} parameters, {} per image at {}x{}.\n",
                                    o.config, join(o.runs, " "), a.images, a.features, budget.text, best.tree.text(), best.cost,
                                    best.params, gflops(best.macs), size.height, size.width),
                        o.out);
  std::cout << fmt::format("\nwrote {}: train it with  densemtl train --config {}\n", o.out, o.out);

  if (!o.json.empty()) {
    OrderedJson j;
    j["config"] = o.config;
    j["runs"] = o.runs;
    j["affinity"] = a.to_json();
    j["budget"] = {{"text", budget.text}, {"kind", by_params ? "params" : "flops"}, {"value", budget.value}};
    j["blocks"] = {{"params", costs.block_params}, {"flops", [&] {
                      std::vector<std::int64_t> f;
                      for (auto m : costs.block_macs) f.push_back(2 * m);
                      return f;
                    }()}, {"head_params", costs.head_params}, {"head_flops", 2 * costs.head_macs}};
    j["trees"] = trees.size();
    j["chosen"] = candidate_json(best);
    OrderedJson others = OrderedJson::array();
    for (std::size_t i = 1; i < ranked.size() && static_cast<int>(i) <= o.top; ++i) others.push_back(candidate_json(ranked[i]));
    j["runners_up"] = others;
    write_json(o.json, j);
  }
  return 0;
}

}  // namespace

Subcommand add_branch(CLI::App& root) {
  auto o = std::make_shared<BranchOptions>();
  CLI::App* app = root.add_subcommand(
      "branch", "Choose a branched network's tree from single-task runs (task affinity by representation similarity, every tree "
                "under a parameter or FLOPs budget), or take the tree a learning_to_branch run learned, and write its config");
  app->add_option("--config", o->config, "Experiment config of the multi-task model to branch (tasks, backbone, data, schedule)");
  app->add_option("--set", o->sets, "Override a config key (repeatable)");
  app->add_option("--runs", o->runs, "Single-task runs, one per task, with the config's backbone, width, head and dataset")
      ->expected(1, -1);
  app->add_option("--budget", o->budget,
                  "Parameters (25M, 2.5e7, 1.5x = 1.5 x the fully shared network) or FLOPs per image (40GFLOPs, 1.2xFLOPs)");
  app->add_option("--learned", o->learned,
                  "Instead: a learning_to_branch run, whose learned tree (every node's most likely parent) is written as the config");
  app->add_option("--out", o->out, "Config file to write")->required()->check(path_validator());
  app->add_option("--images", o->images, "Training images for the similarity analysis (K)")->check(CLI::Range(3, 100000))->capture_default_str();
  app->add_option("--pool", o->pool, "Average-pool each block output to NxN first (0 = the flattened outputs as they are)")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  app->add_option("--memory-gb", o->memory_gb, "Memory for one task's cached features; beyond it they go to --cache")
      ->check(CLI::Range(0.01, 1e6))
      ->capture_default_str();
  app->add_option("--cache", o->cache, "Folder for feature caches that exceed --memory-gb (default: the system's temporary folder)");
  app->add_flag("--shared-stem", o->shared_stem, "Share the first block among all tasks");
  app->add_flag("--force", o->force, "Replace --out if it exists (never the --config file)");
  app->add_option("--top", o->top, "Runners-up to list")->check(CLI::Range(0, 1000))->capture_default_str();
  app->add_option("--json", o->json, "Also write the affinities, block costs, chosen tree and runners-up as JSON")->check(path_validator());
  return {app, [o]() { return run_branch(*o); }};
}

}  // namespace densemtl::cli
