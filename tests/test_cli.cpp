// The densemtl command line, run as a user would.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "fixtures.h"
#include "test_util.h"

namespace densemtl {

namespace {

using Result = test::CommandResult;
Result run(const std::string& args) { return test::run_densemtl(args); }

}  // namespace

TEST(Cli, WrongFlagsAndValuesExitTwoNamingThem) {
  Result r = run("generate --out /tmp/x --szie 8x8");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("--szie"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("usage: densemtl generate --out OUT"), std::string::npos) << r.output;
  r = run("generate --out /tmp/x --size 8by8");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("--size"), std::string::npos) << r.output;
  r = run("generate --out /tmp/x --train -3");
  EXPECT_EQ(r.status, 2);
  r = run("info --dataset /tmp/x --format coco");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("--format"), std::string::npos) << r.output;
  r = run("frobnicate");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(run("--help").status, 0);
  EXPECT_EQ(run("generate --help").status, 0);
}

// docs/configuration.md is generated from the schema; a key added, renamed or re-described in the
// code without regenerating the page fails here.
TEST(Cli, TheConfigurationPageIsWhatTheCodePrints) {
  Result r = run("train --help-config --markdown");
  ASSERT_EQ(r.status, 0) << r.output;
  const fs::path page = fs::path(DENSEMTL_SOURCE_DIR) / "docs" / "configuration.md";
  ASSERT_TRUE(fs::exists(page));
  EXPECT_TRUE(read_file(page) == r.output)
      << "docs/configuration.md differs from what the code prints; regenerate it with\n"
         "  build/densemtl train --help-config --markdown > docs/configuration.md";
  EXPECT_NE(r.output.find("| `balancer.name` |"), std::string::npos);
  EXPECT_EQ(run("train --markdown").status, 2);  // only with --help-config
}

TEST(Cli, GenerateThenInfoCheck) {
  test::TempDir dir;
  fs::path out = dir.path() / "scenes";
  Result g = run("generate --out " + out.string() + " --size 24x32 --train 4 --val 1 --test 1 --seed 3 --threads 2");
  ASSERT_EQ(g.status, 0) << g.output;
  EXPECT_NE(g.output.find("images/s"), std::string::npos) << g.output;  // the rate is reported
  EXPECT_NE(g.output.find("person"), std::string::npos) << g.output;
  Result i = run("info --dataset " + out.string() + " --check --json " + (dir.path() / "info.json").string());
  EXPECT_EQ(i.status, 0) << i.output;
  EXPECT_NE(i.output.find("train 4"), std::string::npos) << i.output;
  EXPECT_NE(i.output.find("semseg (9 classes)"), std::string::npos) << i.output;
  EXPECT_NE(i.output.find("all 6 samples read without error"), std::string::npos) << i.output;
  EXPECT_TRUE(fs::exists(dir.path() / "info.json"));
  // Break one file: --check lists it and exits 1.
  std::ofstream(out / "normals" / "train_00002.npy") << "broken";
  Result bad = run("info --dataset " + out.string() + " --check");
  EXPECT_EQ(bad.status, 1) << bad.output;
  EXPECT_NE(bad.output.find("normals/train_00002.npy"), std::string::npos) << bad.output;
  // Generating into an existing folder is refused without --force.
  Result again = run("generate --out " + out.string() + " --size 24x32 --train 1 --val 0 --test 0");
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.output.find("--force"), std::string::npos) << again.output;
}

TEST(Cli, InfoOnAMissingOrUnknownFolder) {
  test::TempDir dir;
  Result r = run("info --dataset " + (dir.path() / "none").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("not found"), std::string::npos) << r.output;
  test::write_pascal_fixture(dir.path() / "pascal");
  Result p = run("info --dataset " + (dir.path() / "pascal").string() + " --check");
  EXPECT_EQ(p.status, 0) << p.output;
  EXPECT_NE(p.output.find("PASCAL-Context"), std::string::npos) << p.output;
}

}  // namespace densemtl
