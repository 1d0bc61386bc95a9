// The benchmark suite: protocol and grid files (expansion, errors), the shipped protocols on
// fixtures in their real formats, sharding over processes into one folder, a killed shard resumed,
// and the lock that keeps two processes off one cell.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "densemtl/core/json.h"
#include "densemtl/suite/protocol.h"
#include "densemtl/suite/runner.h"
#include "fixtures.h"
#include "test_util.h"

namespace densemtl::suite {

namespace {

const fs::path kProtocols = fs::path(DENSEMTL_SOURCE_DIR) / "protocols";

// `text` with its first `from` replaced by `to`.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

void write(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

// A two-task protocol on a procedural dataset at `data`, small enough to train in seconds.
std::string tiny_protocol(const fs::path& data, int epochs) {
  return fmt::format(R"(name: tiny
description: two tasks on a tiny procedural dataset
config:
  threads: 1
  data: {{dataset: synthetic, root: {}, val_split: val, test_split: test, input_size: [32, 40], workers: 0}}
  tasks:
    main: [semseg, depth]
    loss_weights: {{semseg: 1.0, depth: 2.0}}
  optimizer: {{name: adam, lr: 1.0e-3}}
  train: {{epochs: {}, batch_size: 4}}
  eval: {{batch_size: 4}}
backbones:
  r18:
    config:
      model: {{head: deeplab, width: 0.125}}
      backbone: {{name: resnet18}}
architectures:
  baseline: {{backbone: r18}}
  cross_stitch:
    backbone: r18
    config:
      optimizer: {{name: sgd, lr: 1.0e-3}}
      train: {{epochs: 1}}
)",
                     data.string(), epochs);
}

const char* kTinyGrid = R"(seeds: [3]
cells:
  - {architectures: [baseline, cross_stitch], balancers: [fixed]}
  - {architectures: [baseline], balancers: [uw]}
)";

// results.json without what depends on the machine (times, memory).
Json scores(const fs::path& out) {
  Json j = read_json(out / "results.json");
  for (auto& g : j["groups"])
    for (auto& r : g["rows"])
      for (const char* k : {"train_seconds", "ms_per_step", "peak_memory_mb"}) r.erase(k);
  return j;
}

}  // namespace

TEST(Benchmark, AGridExpandsIntoCellsWithTheirSingleTaskRuns) {
  test::TempDir dir;
  write(dir.path() / "p.yaml", tiny_protocol(dir.path() / "data", 2));
  write(dir.path() / "g.yaml", "seeds: [0, 1]\ncells:\n  - {architectures: all, balancers: [fixed]}\n  - {architectures: [baseline], balancers: [uw, fixed]}\n");
  Benchmark b = load_benchmark(dir.path() / "p.yaml", dir.path() / "g.yaml", dir.path() / "out", {"train.batch_size=2"});
  // Single-task cells first (2 tasks x 2 seeds), then (baseline, fixed), (cross_stitch, fixed),
  // (baseline, uw) per seed; (baseline, fixed) listed twice is one cell.
  std::vector<std::string> names;
  for (const auto& c : b.cells) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"single_task-semseg-r18-s0", "single_task-semseg-r18-s1", "single_task-depth-r18-s0",
                                             "single_task-depth-r18-s1", "baseline-fixed-s0", "baseline-fixed-s1",
                                             "cross_stitch-fixed-s0", "cross_stitch-fixed-s1", "baseline-uw-s0", "baseline-uw-s1"}));
  const Cell& st = b.cell("single_task-depth-r18-s1");
  EXPECT_TRUE(st.single_task());
  EXPECT_EQ(st.row(), "r18/single_task");
  EXPECT_NE(st.config.find("main: [depth]"), std::string::npos) << st.config;
  EXPECT_NE(st.config.find("loss_weights: {depth: 2"), std::string::npos) << st.config;  // the other task's weight dropped
  EXPECT_NE(st.config.find("seed: 1"), std::string::npos);
  EXPECT_NE(st.config.find("batch_size: 2"), std::string::npos);  // --set reaches every cell
  // A balancer that does not use fixed weights gets none.
  const Cell& uw = b.cell("baseline-uw-s0");
  EXPECT_NE(uw.config.find("name: uw"), std::string::npos);
  EXPECT_EQ(uw.config.find("loss_weights: {semseg"), std::string::npos) << uw.config;
  // Cross-stitch starts from the single-task runs of its seed, in this results folder.
  const Cell& cs = b.cell("cross_stitch-fixed-s1");
  EXPECT_EQ(cs.needs, (std::vector<std::string>{"single_task-semseg-r18-s1", "single_task-depth-r18-s1"}));
  EXPECT_NE(cs.config.find((fs::weakly_canonical(dir.path() / "out") / "cells/single_task-semseg-r18-s1/run").string()), std::string::npos)
      << cs.config;
  EXPECT_NE(cs.config.find("name: sgd"), std::string::npos);
}

TEST(Benchmark, ProtocolAndGridErrorsNameTheFileAndKey) {
  test::TempDir dir;
  const fs::path p = dir.path() / "p.yaml", g = dir.path() / "g.yaml", out = dir.path() / "out";
  const std::string good = tiny_protocol(dir.path() / "data", 1);
  write(p, good);
  auto grid = [&](const std::string& text) {
    write(g, text);
    return [&] { load_benchmark(p, g, out); };
  };
  test::expect_error(grid("seeds: [0]\ncells:\n  - {architectures: [baselin]}\n"),
                     {"g.yaml:3: cells[0].architectures", "unknown architecture (of the protocol) 'baselin'", "did you mean 'baseline'"});
  test::expect_error(grid("seeds: [0]\ncells:\n  - {architectures: [baseline], balancer: [uw]}\n"),
                     {"g.yaml:3: cells[0].balancer: unknown key", "did you mean 'balancers'"});
  test::expect_error(grid("seeds: [0, 0]\ncells:\n  - {architectures: [baseline]}\n"), {"g.yaml:1: seeds", "seed 0 given twice"});
  test::expect_error(grid("cells:\n  - {architectures: [baseline]}\n"), {"g.yaml: seeds: required"});
  test::expect_error(grid("seeds: [0]\ncells:\n  - {architectures: [mtan]}\n"), {"unknown architecture (of the protocol) 'mtan'"});
  test::expect_error(grid("seeds: [0]\nseeds: [1]\ncells: []\n"), {"g.yaml:2: seeds: duplicate key"});
  write(g, "seeds: [0]\ncells:\n  - {architectures: [baseline], balancers: [fixed, uw]}\n");
  // A protocol typo, an experiment key a cell gets wrong, a key the grid sets.
  write(p, good + "balancer: {}\n");
  test::expect_error([&] { load_benchmark(p, g, out); }, {"p.yaml:", "balancer: unknown key", "(keys here: name, description"});
  write(p, replaced(good, "train: {epochs: 1,", "train: {epoch: 1,"));
  test::expect_error([&] { load_benchmark(p, g, out); }, {"p.yaml (cell baseline-fixed-s0)", "'train.epoch'", "did you mean 'epochs'"});
  write(p, replaced(good, "baseline: {backbone: r18}", "baseline: {backbone: r18, config: {model: {architecture: mtan}}}"));
  test::expect_error([&] { load_benchmark(p, g, out); }, {"architectures.baseline.config.model.architecture", "the grid sets this"});
  write(p, replaced(good, "baseline: {backbone: r18}", "baseline: {backbone: r50}"));
  test::expect_error([&] { load_benchmark(p, g, out); }, {"architectures.baseline.backbone", "no backbone group 'r50' (groups: r18)"});
  write(p, good);
  test::expect_error([&] { load_benchmark(p, g, out, {"train.epochs=0"}); }, {"--set train.epochs=0"});
  test::expect_error([&] { load_benchmark(dir.path() / "nope.yaml", g, out); }, {"nope.yaml: no such protocol file"});
}

// Every shipped protocol with its grid: every cell's config is valid before anything trains.
TEST(Benchmark, TheShippedProtocolsAndGridsLoad) {
  test::TempDir dir;
  const std::vector<std::tuple<std::string, std::string, std::size_t>> shipped = {
      {"procedural", "procedural", 92}, {"nyud", "nyud_survey", 48}, {"pascal", "pascal_survey", 60}, {"mtan_nyuv2", "mtan_libmtl", 51}};
  for (const auto& [protocol, grid, cells] : shipped) {
    Benchmark b = load_benchmark(kProtocols / (protocol + ".yaml"), kProtocols / "grids" / (grid + ".yaml"), dir.path());
    EXPECT_EQ(b.cells.size(), cells) << protocol;
  }
}

// The NYUD, PASCAL and mtan protocols end to end on fixtures in the real formats (tiny sizes and
// one epoch through --set; the grid: the shared encoder and its single-task runs, one seed).
TEST(Benchmark, TheRealDataProtocolsRunEndToEndOnFixtures) {
  test::TempDir dir;
  const fs::path d = dir.path();
  test::write_nyud_fixture(d / "nyud", 4, 2, 24, 32);
  test::write_pascal_fixture(d / "pascal", 24, 32);
  write(d / "pascal" / "ImageSets" / "Context" / "both.txt", "2008_000001\n2008_000002\n");  // two images to train on
  test::write_mtan_fixture(d / "mtan", 3, 24, 32);
  write(d / "grid.yaml", "seeds: [0]\ncells:\n  - {architectures: [baseline], balancers: [fixed]}\n");
  // Per protocol: its data folder, and whether its Δm must exist (no single-task metric left at 0 by
  // one training step on the fixture). Where it need not, Δm exists exactly when no single-task
  // metric is 0 (eval::delta_m has no relative change against a baseline of 0).
  const std::vector<std::tuple<std::string, std::string, bool>> protocols = {
      {"nyud", "nyud", true}, {"pascal", "pascal", false}, {"mtan_nyuv2", "mtan", false}};
  for (const auto& [protocol, data, delta_required] : protocols) {
    const fs::path out = d / ("out_" + protocol);
    std::string sets;
    // The fixtures are too small to carve a validation split off training: selecting on the test
    // split ("val" in these layouts) is meant here, and says so.
    for (const std::string& s : {"data.root=" + (d / data).string(), std::string("data.val_split=val"),
                                std::string("data.select_on_test=true"), std::string("data.input_size=[24,32]"),
                                std::string("train.epochs=1"), std::string("train.batch_size=2"),
                                std::string("eval.batch_size=2"), std::string("model.width=0.125"), std::string("threads=1")})
      sets += " --set '" + s + "'";
    if (protocol == "pascal") sets += " --set data.train_split=both";
    test::CommandResult r = test::run_densemtl("benchmark --protocol " + (kProtocols / (protocol + ".yaml")).string() + " --grid " +
                                               (d / "grid.yaml").string() + " --out " + out.string() + sets + " --mosaics 1");
    ASSERT_EQ(r.status, 0) << protocol << ": " << r.output;
    Json j = read_json(out / "results.json");
    ASSERT_EQ(j["groups"].size(), 1u) << protocol;
    const Json& rows = j["groups"][0]["rows"];
    ASSERT_EQ(rows.size(), 2u) << protocol;
    EXPECT_EQ(rows[0]["model"], "single-task");
    EXPECT_EQ(rows[1]["architecture"], "baseline");
    // Every task is scored, unless no test image of the fixture has a valid label for it: then it
    // has no metric (not a 0).
    const Json cell = read_json(out / "cells" / "baseline-fixed-s0" / "run" / "metrics.json");
    for (const auto& t : rows[1]["tasks"]) {
      const std::string task = t.get<std::string>();
      EXPECT_EQ(rows[1]["metrics"].contains(task), cell[task]["images"].get<int>() > 0) << protocol << ": " << task;
    }
    // Δm, unless one training step on the fixture left a single-task metric at 0 or without a
    // value (no relative change).
    bool zero = false;
    for (const auto& t : rows[1]["tasks"]) {
      const Json& m = rows[0]["metrics"];
      const std::string task = t.get<std::string>();
      bool has = false;
      for (const char* k : {"mIoU", "mean", "rmse", "odsF"})
        if (m.contains(task) && m[task].contains(k)) {
          has = true;
          zero = zero || m[task][k]["mean"] == 0.0;
        }
      zero = zero || !has;
    }
    EXPECT_EQ(rows[1]["delta_m_percent"]["values"].size(), zero ? 0u : 1u) << protocol << (zero ? ": a Δm against a 0" : ": no Δm");
    EXPECT_TRUE(!delta_required || !zero) << protocol << ": a single-task metric at 0, so no Δm";
    EXPECT_TRUE(j["unfinished"].empty());
    for (const char* f : {"results.md", "results.html", "results.csv", "cells.csv"}) EXPECT_TRUE(fs::exists(out / f)) << f;
    EXPECT_TRUE(fs::exists(out / "figures" / j["groups"][0]["group"].get<std::string>() / "mosaic_0.png")) << protocol;
  }
}

// Two shards in two processes into one folder give the one-shard table; a shard killed mid-cell
// and resumed gives it again; a second run of a finished grid trains nothing.
TEST(Benchmark, ShardsAndAKilledResumedRunGiveTheOneProcessTable) {
  test::TempDir dir;
  const fs::path d = dir.path();
  ASSERT_EQ(test::run_densemtl("generate --out " + (d / "data").string() + " --size 32x40 --train 12 --val 4 --test 4 --seed 1").status, 0);
  write(d / "p.yaml", tiny_protocol(d / "data", 3));
  write(d / "g.yaml", kTinyGrid);
  auto args = [&](const fs::path& out) {
    return std::vector<std::string>{"benchmark", "--protocol", (d / "p.yaml").string(), "--grid", (d / "g.yaml").string(), "--out",
                                    out.string(), "--mosaics", "0"};
  };
  auto with = [](std::vector<std::string> a, std::initializer_list<std::string> more) {
    a.insert(a.end(), more);
    return a;
  };
  // One process.
  pid_t one = test::spawn(args(d / "one"), {}, d / "one.log");
  ASSERT_EQ(test::wait_for(one, 300), 0) << read_file(d / "one.log");
  const Json reference = scores(d / "one");
  ASSERT_EQ(reference["cells_finished"], 5);

  // Two shards at once (cross-stitch in shard 2 waits for, or trains, shard 1's single-task run).
  pid_t a = test::spawn(with(args(d / "two"), {"--shard", "1/2"}), {}, d / "a.log");
  pid_t b = test::spawn(with(args(d / "two"), {"--shard", "2/2"}), {}, d / "b.log");
  ASSERT_EQ(test::wait_for(a, 300), 0) << read_file(d / "a.log");
  ASSERT_EQ(test::wait_for(b, 300), 0) << read_file(d / "b.log");
  ASSERT_EQ(test::run_densemtl(test::join_args(with(args(d / "two"), {"--tables-only"}))).status, 0);
  EXPECT_EQ(scores(d / "two"), reference);
  // Every cell was trained once: its log has one line per epoch.
  for (const char* cell : {"baseline-fixed-s3", "baseline-uw-s3", "single_task-semseg-r18-s3"}) {
    std::ifstream in(d / "two" / "cells" / cell / "run" / "log.jsonl");
    int lines = 0;
    for (std::string l; std::getline(in, l);) lines += !l.empty();
    EXPECT_EQ(lines, 3) << cell;
  }

  // Killed mid-cell (after the first epoch's checkpoint of a 3-epoch cell), then resumed.
  pid_t k = test::spawn(args(d / "killed"), {}, d / "k.log");
  const fs::path checkpoint = d / "killed" / "cells" / "single_task-depth-r18-s3" / "run" / "checkpoint.pt";
  for (int i = 0; i < 3000 && !fs::exists(checkpoint); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(fs::exists(checkpoint)) << read_file(d / "k.log");
  ::kill(k, SIGKILL);
  test::wait_for(k, 30);
  EXPECT_FALSE(suite::cell_finished(d / "killed", "single_task-depth-r18-s3"));
  test::CommandResult no = test::run_densemtl(test::join_args(args(d / "killed")));
  EXPECT_EQ(no.status, 1);
  EXPECT_NE(no.output.find("single_task-depth-r18-s3"), std::string::npos) << no.output;
  EXPECT_NE(no.output.find("pass --resume"), std::string::npos) << no.output;
  test::CommandResult yes = test::run_densemtl(test::join_args(with(args(d / "killed"), {"--resume"})));
  ASSERT_EQ(yes.status, 0) << yes.output;
  EXPECT_EQ(scores(d / "killed"), reference);

  // Finished cells are kept: running again trains nothing and writes the same table.
  test::CommandResult again = test::run_densemtl(test::join_args(args(d / "one")));
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_EQ(scores(d / "one"), reference);
  // A folder of another grid is refused.
  write(d / "g2.yaml", "seeds: [4]\ncells:\n  - {architectures: [baseline]}\n");
  test::CommandResult other = test::run_densemtl("benchmark --protocol " + (d / "p.yaml").string() + " --grid " + (d / "g2.yaml").string() +
                                                 " --out " + (d / "one").string());
  EXPECT_EQ(other.status, 1);
  EXPECT_NE(other.output.find("holds the benchmark of another grid"), std::string::npos) << other.output;
}

// A missing dataset is one error before anything trains; a cell that fails is reported with its
// error line, the others go on, and the exit status says so.
TEST(Benchmark, FailuresAreNamedAndTheOtherCellsGoOn) {
  test::TempDir dir;
  const fs::path d = dir.path();
  write(d / "p.yaml", tiny_protocol(d / "missing", 1));
  write(d / "g.yaml", "seeds: [0]\ncells:\n  - {architectures: [baseline]}\n");
  const std::string base = "benchmark --protocol " + (d / "p.yaml").string() + " --grid " + (d / "g.yaml").string() + " --out " + (d / "out").string();
  test::CommandResult missing = test::run_densemtl(base);
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.output.find("data.root " + (d / "missing").string() + " does not exist"), std::string::npos) << missing.output;
  EXPECT_FALSE(fs::exists(d / "out" / "cells"));
  // An existing but empty folder: every cell fails in training, each is reported.
  fs::create_directories(d / "missing");
  test::CommandResult failed = test::run_densemtl(base);
  EXPECT_EQ(failed.status, 1);
  const std::string table = read_file(d / "out" / "results.md");
  EXPECT_NE(table.find("| baseline-fixed-s0 | failed: densemtl train exited with status 1 (densemtl train: error: "), std::string::npos)
      << table;
  EXPECT_NE(table.find("| single_task-depth-r18-s0 | failed:"), std::string::npos) << table;
  EXPECT_NE(failed.output.find("failed: single_task-semseg-r18-s0"), std::string::npos) << failed.output;
}

// The cell lock: held by one process, refused to another until the holder dies.
TEST(Benchmark, ACellLockKeepsOtherProcessesOutUntilItsHolderDies) {
  test::TempDir dir;
  const fs::path lock = dir.path() / "cell" / "lock";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t holder = ::fork();
  if (holder == 0) {
    FileLock l = FileLock::try_lock(lock);
    char c = l.held() ? 'y' : 'n';
    if (::write(ready[1], &c, 1) != 1) ::_exit(2);
    ::pause();  // killed below
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  EXPECT_FALSE(FileLock::try_lock(lock).held());
  EXPECT_NE(FileLock::holder(lock).find(fmt::format("pid {}", holder)), std::string::npos) << FileLock::holder(lock);
  ::kill(holder, SIGKILL);
  int status = 0;
  ::waitpid(holder, &status, 0);
  FileLock mine = FileLock::try_lock(lock);  // the kernel released the dead holder's lock
  EXPECT_TRUE(mine.held());
  ::close(ready[0]);
  ::close(ready[1]);
}

}  // namespace densemtl::suite
