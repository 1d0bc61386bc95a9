// torch
// Training: exact resume, overfitting a multi-task model, NaN losses, bad runs and configs.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <map>

#include "densemtl/core/json.h"
#include "densemtl/core/strings.h"
#include "densemtl/vision/io/npy.h"
#include "densemtl/data/dataset.h"
#include "densemtl/data/synthetic/generator.h"
#include "densemtl/eval/evaluator.h"
#include "densemtl/models/build.h"
#include "densemtl/train/branching.h"
#include "densemtl/train/run.h"
#include "densemtl/train/trainer.h"
#include "fixtures.h"
#include "model_util.h"
#include "test_util.h"

namespace densemtl::train {

namespace {

fs::path make_scenes(const fs::path& dir, int train = 12, int val = 2, int test = 2, std::map<std::string, double> drop_labels = {}) {
  synthetic::GenerateOptions o;
  o.out = dir / "scenes";
  o.height = 32;
  o.width = 40;
  o.train = train;
  o.val = val;
  o.test = test;
  o.drop_labels = std::move(drop_labels);
  o.seed = 5;
  o.threads = 2;
  synthetic::generate(o);
  return o.out;
}

fs::path write_config(const fs::path& dir, const fs::path& data, const std::string& tasks, const std::string& extra = "") {
  fs::path file = dir / "exp.yaml";
  std::ofstream(file) << "data:\n  dataset: synthetic\n  root: " << data.string() << "\n  val_split: val\n  input_size: [32, 40]\n"
                      << "  workers: 2\n  augment:\n    flip: true\n    scales: [1.0, 1.2]\n"
                      << "tasks:\n  main: [" << tasks << "]\n"
                      << "model:\n  architecture: baseline\n  head: deeplab\n  width: 0.125\n"
                      << "backbone:\n  name: resnet18\n"
                      << "optimizer:\n  name: adam\n  lr: 1.0e-3\n"
                      << "train:\n  epochs: 3\n  batch_size: 4\n"
                      << "eval:\n  batch_size: 4\n"
                      << extra;
  return file;
}

// A one-epoch single-task run of `task` with `config` (no test scoring), in dir/st_<task>.
fs::path single_task_run(const fs::path& config, const std::string& task, const fs::path& dir) {
  TrainOptions o;
  o.config = config;
  o.overrides = {"tasks.main=[" + task + "]", "model.architecture=single_task", "train.epochs=1"};
  o.out = dir / ("st_" + task);
  o.evaluate_test = false;
  train(o);
  return o.out;
}

std::vector<Json> read_log(const fs::path& file) {
  std::vector<Json> lines;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(Json::parse(line));
  return lines;
}

}  // namespace

TEST(Training, ResumingGivesTheSameWeightsAsTrainingInOneGo) {
  test::TempDir dir;
  fs::path data = make_scenes(dir.path());
  fs::path cfg = write_config(dir.path(), data, "semseg, depth");
  TrainOptions a;
  a.config = cfg;
  a.out = dir.path() / "a";
  a.evaluate_test = false;
  train(a);
  TrainOptions b = a;
  b.out = dir.path() / "b";
  b.stop_after = 2;
  TrainResult first = train(b);
  EXPECT_EQ(first.epochs_done, 2);
  EXPECT_FALSE(first.finished);
  b.stop_after = 0;
  b.resume = true;
  std::ofstream(dir.path() / "b" / "checkpoint.pt.tmp.99.0") << "half a checkpoint";
  TrainResult second = train(b);
  EXPECT_TRUE(second.finished);
  // Not just the conv weights: every parameter and buffer (BN statistics) is identical.
  auto wa = test::checkpoint_model(dir.path() / "a" / "checkpoint.pt");
  EXPECT_FALSE(fs::exists(dir.path() / "b" / "checkpoint.pt.tmp.99.0"));  // the killed writer's leftover went
  auto wb = test::checkpoint_model(dir.path() / "b" / "checkpoint.pt");
  ASSERT_FALSE(wa.empty());
  ASSERT_EQ(wa.size(), wb.size());
  for (const auto& [name, t] : wa) EXPECT_TRUE(torch::equal(t, wb.at(name))) << name;
  auto la = read_log(dir.path() / "a" / "log.jsonl"), lb = read_log(dir.path() / "b" / "log.jsonl");
  ASSERT_EQ(la.size(), 3u);
  ASSERT_EQ(lb.size(), 3u);
  EXPECT_EQ(la[2]["train_loss"], lb[2]["train_loss"]);
  EXPECT_TRUE(fs::exists(dir.path() / "b" / "best.pt"));
  Json summary = read_json(dir.path() / "b" / "run.json");
  EXPECT_EQ(summary["epochs"], 3);
  EXPECT_GT(summary["parameters"]["total"].get<double>(), 0);
  EXPECT_GT(summary["gflops_per_image"].get<double>(), 0);
}

TEST(Training, AMultiTaskModelOverfitsFourImages) {
  // Four 16x20 scenes fed at 64x80: every label pixel covers a 4x4 block, which the HRNet head
  // (logits at stride 4, upsampled bilinearly) can represent. At native resolution no stride-4 or
  // stride-8 decoder can draw one-pixel boundaries, and the edge loss plateaus near a quarter of its
  // start (measured: 27 % after 300 steps), whatever the losses and optimiser do.
  test::TempDir dir;
  synthetic::GenerateOptions g;
  g.out = dir.path() / "four";
  g.height = 16;
  g.width = 20;
  g.train = 4;
  g.val = 0;
  g.test = 1;
  g.seed = 5;
  synthetic::generate(g);
  fs::path cfg = dir.path() / "four.yaml";
  std::ofstream(cfg) << "data:\n  dataset: synthetic\n  root: " << g.out.string() << "\n  val_split: train\n  input_size: [64, 80]\n"
                     << "  augment: {flip: false}\n"
                     << "tasks:\n  main: [semseg, human_parts, sal, normals, edge, depth]\n"
                     << "  loss_weights: {edge: 50, normals: 10, sal: 5, human_parts: 2}\n"
                     << "model: {architecture: baseline, head: hrnet, width: 0.5}\nbackbone: {name: hrnet_w18}\n"
                     << "optimizer: {name: adam, lr: 3.0e-3, weight_decay: 0}\nscheduler: {name: constant}\n"
                     << "train: {epochs: 120, batch_size: 4, eval_every: 0}\n";
  TrainOptions o;
  o.config = cfg;
  o.out = dir.path() / "run";
  o.evaluate_test = false;
  train(o);
  auto log = read_log(dir.path() / "run" / "log.jsonl");
  ASSERT_EQ(log.size(), 120u);
  ASSERT_EQ(log.front()["train_loss"].size(), 6u);
  for (const auto& [task, first] : log.front()["train_loss"].items()) {
    double last = log.back()["train_loss"][task].get<double>();
    EXPECT_LT(last, 0.1 * first.get<double>()) << task << ": " << first << " -> " << last;
  }
}

TEST(Training, TrainsAndScoresOnPartiallyLabelledData) {
  // Depth labels left out on about half of the images, semantic labels on all of the test split's.
  test::TempDir dir;
  const fs::path data = make_scenes(dir.path(), 12, 4, 3, {{"depth", 0.5}});
  auto ds = data::open_dataset(data);
  // Semantic labels of the test split removed from its list.
  {
    std::string list;
    for (const char* split : {"train", "val"})
      for (const auto& id : ds->ids(split)) list += id + "\n";
    std::ofstream(data / "gt_sets" / "labelled" / "semseg.txt") << list;
    ds = data::open_dataset(data);
  }
  std::size_t depth_test = 0;
  for (const auto& id : ds->ids("test")) depth_test += ds->labelled(id, "depth") ? 1 : 0;
  fs::path cfg = write_config(dir.path(), data, "semseg, depth", "balancer: {name: uw}\n");
  TrainOptions o;
  o.config = cfg;
  o.out = dir.path() / "run";
  train(o);
  auto log = read_log(dir.path() / "run" / "log.jsonl");
  ASSERT_EQ(log.size(), 3u);
  for (const auto& line : log) {
    EXPECT_TRUE(std::isfinite(line["train_loss"]["depth"].get<double>()));
    EXPECT_TRUE(std::isfinite(line["train_loss"]["semseg"].get<double>()));
  }
  Json metrics = read_json(dir.path() / "run" / "metrics.json");
  EXPECT_EQ(metrics["depth"]["images"].get<std::size_t>(), depth_test);
  EXPECT_EQ(metrics["semseg"]["images"].get<std::size_t>(), 0u);
  EXPECT_FALSE(eval::primary_metric(metrics, "semseg").has_value());  // not a score of 0: no score
  EXPECT_TRUE(eval::primary_metric(metrics, "depth").has_value());
  // A task no training image is labelled for is refused before training.
  std::ofstream(data / "gt_sets" / "labelled" / "semseg.txt") << "";
  o.out = dir.path() / "run2";
  test::expect_error([&] { train(o); }, {"no training image", "labelled for task 'semseg'"});
}

TEST(Training, ANonFiniteLossStopsTheRunNamingTaskAndStepAndKeepsTheCheckpoint) {
  test::TempDir dir;
  fs::path data = make_scenes(dir.path());
  fs::path cfg = write_config(dir.path(), data, "normals, depth");
  TrainOptions o;
  o.config = cfg;
  o.out = dir.path() / "run";
  o.evaluate_test = false;
  o.stop_after = 1;
  train(o);
  std::string before = read_file(dir.path() / "run" / "checkpoint.pt");
  // Poison every training image's depth with finite values (non-finite ones the reader refuses)
  // whose sum overflows float32, so that the depth loss is inf.
  for (const auto& e : fs::directory_iterator(data / "depth")) {
    if (e.path().filename().string().rfind("train_", 0) != 0) continue;
    cv::Mat d = npy::read_mat(e.path(), 1);
    d.setTo(3e38f);
    npy::write_mat(e.path(), d);
  }
  o.resume = true;
  test::expect_error([&] { train(o); }, {"the depth loss is inf", "epoch 2, step 4", "after epoch 1, is intact"});
  EXPECT_EQ(read_file(dir.path() / "run" / "checkpoint.pt"), before);
}

TEST(Training, RefusesToOverwriteARunOrResumeWithAnotherConfigOrModel) {
  test::TempDir dir;
  fs::path data = make_scenes(dir.path());
  fs::path cfg = write_config(dir.path(), data, "depth");
  TrainOptions o;
  o.config = cfg;
  o.out = dir.path() / "run";
  o.evaluate_test = false;
  o.stop_after = 1;
  train(o);
  test::expect_error([&] { train(o); }, {"already holds a run", "--resume"});
  TrainOptions changed = o;
  changed.resume = true;
  changed.overrides = {"model.width=0.25"};
  test::expect_error([&] { train(changed); }, {"config differs"});
  // A checkpoint of another model in the run folder.
  fs::path other = dir.path() / "other";
  TrainOptions t = o;
  t.out = other;
  t.overrides = {"model.width=0.25"};
  train(t);
  fs::copy_file(other / "checkpoint.pt", dir.path() / "run" / "checkpoint.pt", fs::copy_options::overwrite_existing);
  TrainOptions r = o;
  r.resume = true;
  test::expect_error([&] { train(r); }, {"checkpoint.pt", "does not fit"});
}

TEST(Training, ConfigErrorsAreCaughtBeforeTraining) {
  test::TempDir dir;
  test::write_nyud_fixture(dir.path() / "nyud", 4, 2);
  fs::path cfg = dir.path() / "c.yaml";
  std::ofstream(cfg) << "data:\n  dataset: nyud\n  root: " << (dir.path() / "nyud").string() << "\n  test_split: val\n  input_size: [12, 16]\n"
                     << "tasks:\n  main: [semseg, sal]\nmodel:\n  architecture: baseline\n  head: deeplab\n  width: 0.125\n"
                     << "backbone:\n  name: resnet18\noptimizer:\n  name: adam\n  lr: 1.0e-3\ntrain:\n  epochs: 1\n  batch_size: 2\n";
  TrainOptions o;
  o.config = cfg;
  o.out = dir.path() / "run";
  test::expect_error([&] { train(o); }, {"no 'sal' labels"});
  o.overrides = {"tasks.main=[semseg]", "data.test_split=test"};
  test::expect_error([&] { train(o); }, {"data.test_split", "gt_sets/test.txt"});
  o.overrides = {"tasks.main=[semseg, depth]", "model.architecture=single_task"};
  test::expect_error([&] { train(o); }, {"single_task model predicts one task"});
}

TEST(Training, CrossStitchAndNddrStartFromTheSingleTaskRuns) {
  test::TempDir dir;
  fs::path data = make_scenes(dir.path(), 8, 2, 2);
  fs::path cfg = write_config(dir.path(), data, "semseg, depth");
  const fs::path semseg = single_task_run(cfg, "semseg", dir.path()), depth = single_task_run(cfg, "depth", dir.path());
  auto runs = [](std::initializer_list<fs::path> dirs) {
    std::vector<std::string> v;
    for (const auto& d : dirs) v.push_back(d.string());
    return "[" + join(v, ", ") + "]";
  };
  for (const std::string arch : {"cross_stitch", "nddr_cnn"}) {
    SCOPED_TRACE(arch);
    const std::string key = "model." + arch + ".single_task_runs";
    Experiment e = Experiment::load(cfg, {"model.architecture=" + arch, key + "=" + runs({depth, semseg})});
    data::DatasetInfo info = e.dataset_info();
    models::Architecture model = models::make_architecture(e.model_spec(info));
    init_from_single_task_runs(*model, e, info);
    auto ours = model->named_parameters();
    auto our_buffers = model->named_buffers();
    for (const auto& [task, run] : {std::pair{"semseg", semseg}, std::pair{"depth", depth}}) {
      models::Architecture st = load_run_weights(open_run(run), info);
      std::size_t compared = 0;
      for (const auto& p : st->named_parameters()) {
        std::string name = p.key().rfind("backbone.", 0) == 0 ? "backbone." + std::string(task) + p.key().substr(8)
                                                               : "heads." + std::string(task) + p.key().substr(7);
        ASSERT_TRUE(ours.contains(name)) << name;
        EXPECT_TRUE(torch::equal(ours[name], p.value())) << name;
        ++compared;
      }
      std::size_t buffers_compared = 0;
      for (const auto& b : st->named_buffers()) {  // batch-norm statistics too
        if (b.key().rfind("backbone.", 0) != 0) continue;
        EXPECT_TRUE(torch::equal(our_buffers["backbone." + std::string(task) + b.key().substr(8)], b.value())) << b.key();
        ++buffers_compared;
      }
      EXPECT_GT(compared, 50u);
      EXPECT_GT(buffers_compared, 0u) << "no backbone buffer compared";
    }
    auto init = [&](const std::vector<std::string>& overrides) {
      std::vector<std::string> all = {"model.architecture=" + arch};
      all.insert(all.end(), overrides.begin(), overrides.end());
      Experiment x = Experiment::load(cfg, all);
      models::Architecture m = models::make_architecture(x.model_spec(info));
      init_from_single_task_runs(*m, x, info);
    };
    test::expect_error([&] { init({key + "=" + runs({semseg, dir.path() / "nope"})}); }, {key, "nope", "run folder"});
    test::expect_error([&] { init({key + "=" + runs({semseg})}); }, {key, "no run for task depth"});
    test::expect_error([&] { init({key + "=" + runs({semseg, semseg, depth})}); }, {key, "both train semseg"});
    test::expect_error([&] { init({key + "=" + runs({semseg, depth}), "model.width=0.25"}); },
                       {key, "model.width 0.125, this model has 0.25"});
    test::expect_error([&] { init({key + "=" + runs({semseg, depth}), "tasks.main=[semseg, normals]"}); },
                       {key, "trains depth, which is not a task of this model"});
    test::expect_error([&] { init({key + "=" + runs({semseg, depth}), "backbone.name=resnet50"}); },
                       {key, "backbone resnet18, this model has resnet50"});
  }
  // A multi-task run is not a single-task run.
  fs::path baseline = dir.path() / "baseline";
  {
    TrainOptions o;
    o.config = cfg;
    o.overrides = {"train.epochs=1"};
    o.out = baseline;
    o.evaluate_test = false;
    train(o);
  }
  test::expect_error(
      [&] {
        Experiment x = Experiment::load(cfg, {"model.architecture=cross_stitch", "model.cross_stitch.single_task_runs=" + runs({baseline})});
        data::DatasetInfo info = x.dataset_info();
        models::Architecture m = models::make_architecture(x.model_spec(info));
        init_from_single_task_runs(*m, x, info);
      },
      {"is a baseline run, not a single-task run"});
  // The whole run: cross-stitch trains from the two runs, its units at 100 x the rate.
  TrainOptions o;
  o.config = cfg;
  o.overrides = {"model.architecture=cross_stitch", "model.cross_stitch.single_task_runs=" + runs({semseg, depth}), "train.epochs=1"};
  o.out = dir.path() / "cross_stitch";
  TrainResult r = train(o);
  EXPECT_TRUE(r.finished);
  Json summary = read_json(o.out / "run.json");
  EXPECT_EQ(summary["parameters"]["backbones"], 2);
}

TEST(Training, DecoderFocusedModelsTrainWithTheirDeepSupervisionAndAuxiliaryTasks) {
  test::TempDir dir;
  fs::path data = make_scenes(dir.path(), 8, 2, 2);
  fs::path cfg = write_config(dir.path(), data, "semseg, depth");
  for (const std::string arch : {"pad_net", "mti_net", "pap_net", "jtrl"}) {
    TrainOptions o;
    o.config = cfg;
    o.overrides = {"model.architecture=" + arch, "model.head=hrnet", "backbone.name=hrnet_w18", "model.width=0.25", "train.epochs=1"};
    // An auxiliary task (boundaries) only PAD-Net, MTI-Net and PAP-Net predict initially.
    if (arch != "jtrl") o.overrides.push_back("tasks.aux=[edge]");
    o.out = dir.path() / arch;
    ASSERT_TRUE(train(o).finished) << arch;
    std::vector<Json> log = read_log(o.out / "log.jsonl");
    ASSERT_FALSE(log.empty()) << arch;
    const Json& loss = log.back().at("train_loss");
    // The balancer saw the auxiliary task's terms as a task of their own.
    EXPECT_EQ(loss.contains("edge"), arch != "jtrl") << arch << ": " << loss.dump();
    EXPECT_TRUE(loss.contains("semseg") && loss.contains("depth")) << arch;
    EXPECT_TRUE(log.back().at("val").contains("depth")) << arch;
    EXPECT_FALSE(log.back().at("val").contains("edge")) << arch << ": auxiliary tasks are not scored";
  }
}

TEST(Training, LearningToBranchTrainsAndBranchWritesItsLearnedTree) {
  test::TempDir dir;
  fs::path data = make_scenes(dir.path(), 8, 2, 2);
  fs::path cfg = write_config(dir.path(), data, "semseg, depth, normals");
  TrainOptions o;
  o.config = cfg;
  o.overrides = {"model.architecture=learning_to_branch", "train.epochs=2", "model.learning_to_branch.logits_lr_factor=10"};
  o.out = dir.path() / "l2b";
  o.evaluate_test = false;
  ASSERT_TRUE(train(o).finished);
  train::Run run = open_run(o.out);
  models::Architecture trained = load_run_weights(run, run.experiment.dataset_info());
  EXPECT_FALSE(torch::equal(trained->named_parameters()["logits.block3.theta"], torch::zeros({3, 3})));  // the logits learned
  const fs::path out = dir.path() / "learned.yaml";
  test::CommandResult r = test::run_densemtl("branch --learned " + o.out.string() + " --out " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("logits.block4.theta"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("learned tree: {"), std::string::npos) << r.output;
  Experiment e = Experiment::load(out);
  EXPECT_EQ(e.model.architecture, "branched");
  EXPECT_EQ(e.config->get_string_list("model.branched.tree"), trained->learned_tree());
  EXPECT_FALSE(e.config->has("model.learning_to_branch"));
  // Not a learning_to_branch run, or mixed with the affinity options: refused.
  r = test::run_densemtl("branch --learned " + (dir.path() / "nope").string() + " --out " + out.string());
  EXPECT_EQ(r.status, 1);
  TrainOptions b = o;
  b.overrides = {"train.epochs=1"};
  b.out = dir.path() / "baseline";
  train(b);
  r = test::run_densemtl("branch --learned " + b.out.string() + " --out " + out.string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("a baseline run; the learned tree comes from a learning_to_branch run"), std::string::npos) << r.output;
  r = test::run_densemtl("branch --learned " + o.out.string() + " --budget 2x --out " + out.string());
  EXPECT_EQ(r.status, 2) << r.output;
}

TEST(Training, BranchChoosesATreeFromSingleTaskRunsAndItTrains) {
  test::TempDir dir;
  fs::path data = make_scenes(dir.path(), 10, 2, 2);
  fs::path cfg = write_config(dir.path(), data, "semseg, depth, normals", "seed: 3\n");
  std::vector<std::string> runs;
  for (const std::string task : {"semseg", "depth", "normals"}) runs.push_back(single_task_run(cfg, task, dir.path()).string());
  const fs::path out = dir.path() / "branched.yaml", json = dir.path() / "branch.json";
  const std::string base = "branch --config " + cfg.string() + " --runs " + join(runs, " ") + " --images 8 ";
  test::CommandResult r = test::run_densemtl(base + "--budget 1.6x --top 3 --out " + out.string() + " --json " + json.string());
  ASSERT_EQ(r.status, 0) << r.output;
  for (const std::string& expected : std::vector<std::string>{"block 1 (conv+layer1)", "block 4 (layer4)", "8 training images", "35 trees over 3 tasks and 4 blocks", "chosen tree: {",
                                     "runners-up:", "densemtl train --config " + out.string()})
    EXPECT_NE(r.output.find(expected), std::string::npos) << expected << "\n" << r.output;
  Json j = read_json(json);
  EXPECT_EQ(j["affinity"]["matrices"].size(), 4u);
  EXPECT_EQ(j["affinity"]["matrices"][2][1][1].get<double>(), 1.0);
  EXPECT_EQ(j["runners_up"].size(), 3u);
  const auto params = j["chosen"]["params"].get<std::int64_t>();
  EXPECT_LE(static_cast<double>(params), j["budget"]["value"].get<double>());
  // The written config is a branched network of exactly the chosen size, and it trains.
  Experiment e = Experiment::load(out);
  EXPECT_EQ(e.model.architecture, "branched");
  data::DatasetInfo info = e.dataset_info();
  models::Architecture model = models::make_architecture(e.model_spec(info));
  EXPECT_EQ(models::count_parameters(*model).total, params);
  TrainOptions t;
  t.config = out;
  t.overrides = {"train.epochs=1"};
  t.out = dir.path() / "branched";
  t.evaluate_test = false;
  EXPECT_TRUE(train(t).finished);
  // The same affinities with the features spilled to disk in small chunks (bounded memory).
  auto opened = open_single_task_runs(runs, Experiment::load(cfg), "--runs");
  branching::AffinityOptions small;
  small.images = 8;
  small.memory_gb = 1e-6;
  small.cache = dir.path() / "cache";
  branching::Affinity spilled = branching::measure_affinity(Experiment::load(cfg), opened, small);
  for (std::size_t d = 0; d < 4; ++d)
    for (std::size_t a = 0; a < 3; ++a)
      for (std::size_t b = 0; b < 3; ++b)
        EXPECT_NEAR(spilled.matrices[d][static_cast<std::int64_t>(a)][static_cast<std::int64_t>(b)].item<double>(),
                    j["affinity"]["matrices"][d][a][b].get<double>(), 1e-6);
  EXPECT_TRUE(fs::is_empty(dir.path() / "cache"));  // the caches are removed
  // Errors name the option.
  r = test::run_densemtl(base + "--budget 0.5x --out " + out.string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("--budget 0.5x: no tree fits"), std::string::npos) << r.output;
  r = test::run_densemtl(base + "--budget lots --out " + out.string());
  EXPECT_NE(r.output.find("'lots' is not a budget"), std::string::npos) << r.output;
  r = test::run_densemtl("branch --config " + cfg.string() + " --runs " + runs[0] + " " + runs[1] + " --budget 2x --out " + out.string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("--runs: no run for task normals"), std::string::npos) << r.output;
}

}  // namespace densemtl::train
