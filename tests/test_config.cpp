// The experiment config: schema validation, overrides, resolved output.
#include <gtest/gtest.h>

#include "densemtl/core/config.h"
#include "densemtl/train/experiment.h"
#include "test_util.h"

namespace densemtl {

namespace {

const char* kGood = R"(
data:
  dataset: synthetic
  root: data/scenes
  input_size: [96, 128]
tasks:
  main: [semseg, depth]
  loss_weights: {semseg: 1.0, depth: 2.0}
model:
  architecture: baseline
  head: deeplab
backbone:
  name: resnet18
optimizer:
  name: adam
  lr: 1.0e-4
train:
  epochs: 3
)";

config::Config parse(const std::string& text, std::vector<std::string> overrides = {}) {
  return config::Config::parse(experiment_schema(), text, "exp.yaml", overrides);
}

}  // namespace

TEST(Config, ValidConfigResolvesWithDefaults) {
  auto c = parse(kGood);
  EXPECT_EQ(c.get_string("data.dataset"), "synthetic");
  EXPECT_EQ(c.get_int("train.epochs"), 3);
  EXPECT_EQ(c.get_int("train.batch_size"), 8);                   // default
  EXPECT_DOUBLE_EQ(c.get_float("optimizer.weight_decay"), 1e-4);  // default
  EXPECT_EQ(c.get_string_list("tasks.main"), (std::vector<std::string>{"semseg", "depth"}));
  EXPECT_DOUBLE_EQ(c.get_float_map("tasks.loss_weights").at("depth"), 2.0);
  EXPECT_EQ(c.get_int_list("data.input_size"), (std::vector<long long>{96, 128}));
}

TEST(Config, ResolvedDumpListsEveryKeyAndParsesBackToTheSame) {
  auto c = parse(kGood);
  std::string dumped = c.dump();
  EXPECT_NE(dumped.find("weight_decay"), std::string::npos);
  EXPECT_NE(dumped.find("eval_every"), std::string::npos);
  auto again = parse(dumped);
  EXPECT_EQ(again.dump(), dumped);
}

TEST(Config, UnknownKeyIsNamedWithASuggestion) {
  std::string text = kGood;
  text.replace(text.find("  name: resnet18"), 16, "  nmae: resnet18");
  test::expect_error([&] { parse(text); }, {"exp.yaml", "backbone.nmae", "unknown key", "did you mean 'name'"});
}

TEST(Config, UnknownTopLevelSection) {
  test::expect_error([&] { parse(std::string(kGood) + "trian:\n  epochs: 2\n"); }, {"exp.yaml", "'trian'", "did you mean 'train'"});
}

TEST(Config, WrongTypeAndRangeAreNamed) {
  test::expect_error([&] { parse(kGood, {"train.epochs=three"}); }, {"train.epochs", "expected an integer", "three"});
  test::expect_error([&] { parse(kGood, {"train.epochs=0"}); }, {"train.epochs", "in [1, 1000000]"});
  test::expect_error([&] { parse(kGood, {"optimizer.lr=0"}); }, {"optimizer.lr", "(0"});
  test::expect_error([&] { parse(kGood, {"optimizer.name=adamw"}); }, {"optimizer.name", "one of adam, sgd", "did you mean 'adam'"});
  test::expect_error([&] { parse(kGood, {"tasks.main=[semseg, dpeth]"}); }, {"tasks.main[1]", "did you mean 'depth'"});
  test::expect_error([&] { parse(kGood, {"data.input_size=[96, 128, 3]"}); }, {"data.input_size", "0 to 2 item(s)"});
  test::expect_error([&] { parse(kGood, {"train.drop_last=maybe"}); }, {"train.drop_last", "true or false"});
  test::expect_error([&] { parse(kGood, {"tasks.loss_weights={semseg: -1}"}); }, {"tasks.loss_weights.semseg", "in [0"});
  test::expect_error([&] { parse(kGood, {"tasks.loss_weights={segsem: 1}"}); }, {"tasks.loss_weights.segsem", "unknown name"});
}

TEST(Config, MissingRequiredKey) {
  std::string text = kGood;
  text.replace(text.find("train:\n  epochs: 3"), 18, "");
  test::expect_error([&] { parse(text); }, {"exp.yaml", "train.epochs", "missing required key"});
}

TEST(Config, OverridesApplyAndUnknownOverrideKeysAreRejected) {
  auto c = parse(kGood, {"train.epochs=7", "optimizer.lr=0.5", "data.augment.scales=[1.0, 1.5]"});
  EXPECT_EQ(c.get_int("train.epochs"), 7);
  EXPECT_DOUBLE_EQ(c.get_float("optimizer.lr"), 0.5);
  EXPECT_EQ(c.get_float_list("data.augment.scales").size(), 2u);
  test::expect_error([&] { parse(kGood, {"train.epoch=2"}); }, {"--set train.epoch=2", "unknown key 'train.epoch'", "epochs"});
  test::expect_error([&] { parse(kGood, {"train"}); }, {"--set train", "key.path=value"});
  test::expect_error([&] { parse(kGood, {"seed.x=1"}); }, {"has no sub-keys"});
}

TEST(Config, YamlSyntaxErrorNamesLine) {
  test::expect_error([&] { parse("data:\n  dataset: [synthetic\n"); }, {"exp.yaml:", "YAML syntax error"});
}

TEST(Config, AKeyGivenTwiceIsAnErrorNamingItsLine) {
  // kGood's line 13 is "  name: resnet18" under backbone.
  std::string text = kGood;
  text.replace(text.find("  name: resnet18"), 16, "  name: resnet18\n  name: resnet50");
  test::expect_error([&] { parse(text); }, {"exp.yaml:14", "backbone.name", "duplicate key", "line 13"});
  test::expect_error([&] { parse(std::string(kGood) + "train:\n  epochs: 4\n"); }, {"exp.yaml:19", "train: duplicate key", "line 17"});
  test::expect_error([&] { parse(kGood, {"tasks.loss_weights={semseg: 1, semseg: 2}"}); }, {"semseg", "duplicate key"});
}

TEST(Config, ATaskListedTwiceIsAnError) {
  test::expect_error([&] { parse(kGood, {"tasks.main=[semseg, depth, semseg]"}); }, {"tasks.main[2]", "'semseg' is listed twice", "tasks.main[0]"});
}

TEST(Config, MissingFileIsNamed) {
  test::expect_error([&] { config::Config::load(experiment_schema(), "/nonexistent/exp.yaml"); }, {"config file not found", "/nonexistent/exp.yaml"});
}

TEST(Config, EveryShippedConfigValidates) {
  int n = 0, bases = 0;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(DENSEMTL_SOURCE_DIR) / "configs")) {
    if (e.path().extension() != ".yaml") continue;
    // A base file holds what the configs beside it share; only they are whole experiments.
    if (e.path().filename().string().rfind("_base", 0) == 0) {
      ++bases;
      continue;
    }
    EXPECT_NO_THROW(Experiment::load(e.path())) << e.path();
    ++n;
  }
  EXPECT_GT(n, 50);
  EXPECT_EQ(bases, 6);
}

namespace {

void write(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  write_file_atomic(file, text);
}

}  // namespace

// `base: FILE`: the base is read first (relative to the file naming it, recursively), sections
// merge key by key, lists and values replace; the resolved config holds no `base` and equals the
// same experiment written out in one file.
TEST(Config, ABaseFileIsMergedBeforeValidation) {
  test::TempDir dir;
  write(dir.path() / "common" / "root.yaml", "data: {dataset: synthetic, root: data/scenes, input_size: [96, 128]}\n"
                                             "optimizer: {name: adam, lr: 1.0e-4}\ntrain: {epochs: 3}\n");
  write(dir.path() / "base.yaml", "base: common/root.yaml\ntasks: {main: [semseg, normals, depth]}\n"
                                  "model: {architecture: baseline, head: deeplab}\nbackbone: {name: resnet18}\n");
  write(dir.path() / "exp.yaml", "base: base.yaml\ntasks:\n  main: [semseg, depth]\n  loss_weights: {semseg: 1.0, depth: 2.0}\n"
                                 "optimizer: {lr: 1.0e-4}\ntrain: {epochs: 3}\n");
  const config::Config merged = config::Config::load(experiment_schema(), dir.path() / "exp.yaml");
  EXPECT_EQ(merged.dump(), parse(kGood).dump());
  EXPECT_EQ(merged.get_string_list("tasks.main"), (std::vector<std::string>{"semseg", "depth"}));  // a list replaces
  EXPECT_EQ(merged.get_string("optimizer.name"), "adam");                                         // a section merges
  EXPECT_EQ(("\n" + merged.dump()).find("\nbase:"), std::string::npos);
  // --set applies after the bases.
  EXPECT_EQ(config::Config::load(experiment_schema(), dir.path() / "exp.yaml", {"train.epochs=7"}).get_int("train.epochs"), 7);
}

TEST(Config, AMissingBaseOrACycleNamesTheChain) {
  test::TempDir dir;
  write(dir.path() / "a.yaml", "base: b.yaml\n");
  write(dir.path() / "b.yaml", "base: sub/c.yaml\n");
  write(dir.path() / "sub" / "c.yaml", "base: ../a.yaml\n");
  test::expect_error([&] { config::Config::load(experiment_schema(), dir.path() / "a.yaml"); },
                     {"form a cycle", "a.yaml -> ", "b.yaml -> ", "c.yaml -> ", "../a.yaml"});
  write(dir.path() / "d.yaml", "base: e.yaml\n");
  write(dir.path() / "e.yaml", "base: missing.yaml\n");
  test::expect_error([&] { config::Config::load(experiment_schema(), dir.path() / "d.yaml"); },
                     {"e.yaml: base:", "missing.yaml not found", "d.yaml -> ", "e.yaml -> "});
  write(dir.path() / "f.yaml", "base: [a.yaml]\n");
  test::expect_error([&] { config::Config::load(experiment_schema(), dir.path() / "f.yaml"); }, {"f.yaml: base:", "file name of a base config"});
  // Text that is not a file (benchmark cells, --set) cannot name a base.
  test::expect_error([&] { parse("base: other.yaml\n"); }, {"exp.yaml: base:", "only in a config file"});
}

TEST(Config, DescribeListsEveryKey) {
  std::string table = config::describe(experiment_schema());
  EXPECT_NE(table.find("`data.augment.rotation`"), std::string::npos);
  EXPECT_NE(table.find("`optimizer.lr`"), std::string::npos);
  // A method's own section, with when it applies; the choice lists come from the registries.
  EXPECT_NE(table.find("`tasks.edge.pos_weight`"), std::string::npos);
  EXPECT_NE(table.find("(when main or aux lists edge)"), std::string::npos);
  EXPECT_NE(table.find("single_task, baseline"), std::string::npos);
}

TEST(Config, AMethodSectionAppliesOnlyWhenItsMethodIsChosen) {
  // The edge task's options are resolved (with defaults) when edge is a task...
  auto with_edge = parse(kGood, {"tasks.main=[semseg, edge]", "tasks.loss_weights={semseg: 1.0}"});
  EXPECT_DOUBLE_EQ(with_edge.get_float("tasks.edge.pos_weight"), 0.95);
  EXPECT_NE(with_edge.dump().find("pos_weight"), std::string::npos);
  // ...left out of the resolved config when it is not...
  auto without = parse(kGood);
  EXPECT_FALSE(without.has("tasks.edge"));
  EXPECT_EQ(without.dump().find("pos_weight"), std::string::npos);
  // ...and an error naming the key and when it applies if set anyway.
  test::expect_error([&] { parse(kGood, {"tasks.edge.pos_weight=0.5"}); }, {"tasks.edge.pos_weight", "applies only when", "edge"});
  std::string text = std::string(kGood) + "balancer:\n  fixed:\n    x: 1\n";
  test::expect_error([&] { parse(text); }, {"balancer.fixed", "unknown key"});
}

TEST(Config, OneLossWeightCanBeSetAsUsersTypeIt) {
  auto c = parse(kGood, {"tasks.loss_weights.depth=3"});
  EXPECT_DOUBLE_EQ(c.get_float_map("tasks.loss_weights").at("depth"), 3.0);
  EXPECT_DOUBLE_EQ(c.get_float_map("tasks.loss_weights").at("semseg"), 1.0);
  test::expect_error([&] { parse(kGood, {"tasks.loss_weights.dpeth=3"}); }, {"dpeth", "did you mean 'depth'"});
  test::expect_error([&] { parse(kGood, {"tasks.loss_weights.depth=heavy"}); }, {"tasks.loss_weights.depth", "number"});
}

TEST(Config, KeysThatNoPartWouldReadAreErrors) {
  // Loss weights of a task the model does not have.
  test::expect_error([&] { Experiment::from(parse(kGood, {"tasks.loss_weights.sal=2"})); }, {"tasks.loss_weights.sal", "no sal task"});
  // Auxiliary tasks for an architecture without auxiliary outputs.
  test::expect_error([&] { Experiment::from(parse(kGood, {"tasks.aux=[edge]"})); }, {"tasks.aux", "baseline", "no auxiliary outputs"});
  // A single-task model with two tasks, caught before any data is read.
  test::expect_error([&] { Experiment::from(parse(kGood, {"model.architecture=single_task"})); }, {"tasks.main", "single_task", "one task"});
  // bf16 autocast without a GPU.
  test::expect_error([&] { Experiment::from(parse(kGood, {"train.amp=bf16"})); }, {"train.amp", "cuda"});
  EXPECT_NO_THROW(Experiment::from(parse(kGood)));
}

}  // namespace densemtl
