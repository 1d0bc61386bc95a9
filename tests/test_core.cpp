// Core helpers: strings, RNG, atomic files, parallel loop.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <set>

#include "densemtl/core/error.h"
#include "densemtl/core/fs.h"
#include "densemtl/core/parallel.h"
#include "densemtl/core/rng.h"
#include "densemtl/core/strings.h"
#include "test_util.h"

namespace densemtl {

TEST(Strings, ParseSize) {
  EXPECT_EQ(parse_size("96x128", "--size"), std::make_pair(96, 128));
  EXPECT_EQ(parse_size("480X640", "--size"), std::make_pair(480, 640));
  for (const char* bad : {"96", "96x", "x128", "0x5", "-3x4", "axb", "1x2x3", "96x128.5"})
    EXPECT_THROW(parse_size(bad, "--size"), Error) << bad;
}

TEST(Strings, ClosestSuggestsNearMisses) {
  EXPECT_EQ(closest("bakbone", {"backbone", "model", "data"}), "backbone");
  EXPECT_EQ(closest("zzzzzz", {"backbone", "model", "data"}), "");
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(Rng, SameSeedSameStreamDifferentSeedDifferentStream) {
  Rng a(7), b(7), c(8);
  for (int i = 0; i < 100; ++i) {
    auto x = a.next();
    EXPECT_EQ(x, b.next());
    (void)c;
  }
  Rng d({1, 2, 3}), e({1, 2, 4});
  EXPECT_NE(d.next(), e.next());
}

TEST(Rng, UniformAndShuffleAreSane) {
  Rng r(3);
  double sum = 0;
  for (int i = 0; i < 10000; ++i) {
    double u = r.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / 10000, 0.5, 0.02);
  std::vector<int> v(50);
  for (int i = 0; i < 50; ++i) v[static_cast<std::size_t>(i)] = i;
  r.shuffle(v);
  EXPECT_EQ(std::set<int>(v.begin(), v.end()).size(), 50u);
}

TEST(Files, AtomicWriteReplacesWholeFile) {
  test::TempDir dir;
  fs::path f = dir.path() / "a" / "b.txt";
  write_file_atomic(f, "first");
  write_file_atomic(f, "second", true);
  EXPECT_EQ(read_file(f), "second");
  // No temporary files are left behind.
  int n = 0;
  for (const auto& e : fs::directory_iterator(f.parent_path())) n += e.is_regular_file();
  EXPECT_EQ(n, 1);
}

TEST(Files, AtomicWritesGoThroughSymlinksAndSpecialFiles) {
  test::TempDir dir;
  fs::path target = dir.path() / "real.json", link = dir.path() / "link.json";
  write_file_atomic(target, "old");
  fs::create_symlink(target, link);
  write_file_atomic(link, "new");
  EXPECT_TRUE(fs::is_symlink(link));  // the link is kept, its target written
  EXPECT_EQ(read_file(target), "new");
  // A full device is a one-line error, and stays a device.
  test::expect_error([&] { write_file_atomic("/dev/full", "bytes"); }, {"/dev/full", "write error", "No space left"});
  EXPECT_TRUE(fs::is_character_file("/dev/full"));
  // A folder where a file should be created is named.
  write_file_atomic(dir.path() / "plain", "x");
  test::expect_error([&] { write_file_atomic(dir.path() / "plain" / "sub" / "f.txt", "x"); }, {"plain/sub/f.txt", "cannot create the folder"});
  // Leftovers of killed writers go.
  write_file_atomic(dir.path() / "checkpoint.pt.tmp.123.0", "partial");
  remove_temporary_files(dir.path());
  EXPECT_FALSE(fs::exists(dir.path() / "checkpoint.pt.tmp.123.0"));
  EXPECT_TRUE(fs::exists(target));
}

TEST(Files, MissingFileIsAClearError) {
  test::TempDir dir;
  test::expect_error([&] { read_file(dir.path() / "nope.txt"); }, "not found");
}

TEST(Files, StagingDirRefusesToOverwriteUnlessAsked) {
  test::TempDir dir;
  fs::path out = dir.path() / "out";
  {
    StagingDir s(out, false);
    write_file_atomic(s.path() / "x", "1");
    EXPECT_FALSE(fs::exists(out));
    s.commit();
  }
  EXPECT_TRUE(fs::exists(out / "x"));
  test::expect_error([&] { StagingDir s(out, false); }, "already exists");
  StagingDir again(out, true);
  again.commit();
  EXPECT_FALSE(fs::exists(out / "x"));
}

TEST(Parallel, RunsEveryIndexOnceAndPropagatesErrors) {
  std::vector<std::atomic<int>> hits(1000);
  parallel_for(1000, 4, [&](std::size_t i) { hits[i]++; });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  EXPECT_THROW(parallel_for(100, 3, [](std::size_t i) { if (i == 37) fail("boom"); }), Error);
}

}  // namespace densemtl
