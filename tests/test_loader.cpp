// torch
// The loader: deterministic batches, missing labels, error propagation.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <fstream>
#include <set>

#include "densemtl/data/loader.h"
#include "densemtl/data/synthetic/generator.h"
#include "fixtures.h"
#include "test_util.h"

namespace densemtl::data {

namespace {

struct Scenes {
  test::TempDir dir;
  std::unique_ptr<Dataset> ds;
  Scenes() {
    synthetic::GenerateOptions o;
    o.out = dir.path() / "s";
    o.height = 24;
    o.width = 32;
    o.train = 10;
    o.val = 0;
    o.test = 1;
    o.seed = 1;
    o.threads = 2;
    synthetic::generate(o);
    ds = open_dataset(o.out);
  }
};

PipelineOptions train_options() {
  PipelineOptions o;
  o.size = cv::Size(32, 24);
  o.augment.flip = true;
  o.augment.scales = {1.0, 1.2, 1.5};
  o.normals_y_down = false;
  return o;
}

std::vector<Batch> epoch(Loader& loader, int e) {
  loader.start_epoch(e);
  std::vector<Batch> out;
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

}  // namespace

TEST(Loader, SameSeedSameBatchesWhateverTheWorkerCount) {
  Scenes s;
  std::vector<std::string> tasks = {"semseg", "normals", "depth"};
  LoaderOptions o;
  o.batch_size = 3;
  o.shuffle = true;
  o.seed = 42;
  o.workers = 0;
  Loader serial(*s.ds, s.ds->ids("train"), tasks, Pipeline(train_options(), true), o);
  o.workers = 3;
  Loader threaded(*s.ds, s.ds->ids("train"), tasks, Pipeline(train_options(), true), o);
  auto a = epoch(serial, 2), b = epoch(threaded, 2);
  ASSERT_EQ(a.size(), 4u);  // 10 images, batch 3, last batch kept
  ASSERT_EQ(b.size(), 4u);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].ids, b[i].ids);
    EXPECT_TRUE(torch::equal(a[i].image, b[i].image));
    for (const auto& t : tasks) EXPECT_TRUE(torch::equal(a[i].labels[t], b[i].labels[t])) << t;
  }
  EXPECT_EQ(a[0].image.sizes(), (std::vector<std::int64_t>{3, 3, 24, 32}));
  EXPECT_EQ(a[0].labels["normals"].size(1), 3);
  EXPECT_EQ(a.back().size(), 1);
}

TEST(Loader, EpochsReshuffleAndCoverEverySampleOnce) {
  Scenes s;
  LoaderOptions o;
  o.batch_size = 4;
  o.shuffle = true;
  o.drop_last = false;
  o.workers = 2;
  Loader loader(*s.ds, s.ds->ids("train"), {"depth"}, Pipeline(train_options(), true), o);
  std::vector<std::string> first, second;
  for (auto& b : epoch(loader, 0)) first.insert(first.end(), b.ids.begin(), b.ids.end());
  for (auto& b : epoch(loader, 1)) second.insert(second.end(), b.ids.begin(), b.ids.end());
  EXPECT_EQ(std::set<std::string>(first.begin(), first.end()).size(), 10u);
  EXPECT_EQ(first.size(), 10u);
  EXPECT_NE(first, second);
  o.drop_last = true;
  Loader dropping(*s.ds, s.ds->ids("train"), {"depth"}, Pipeline(train_options(), true), o);
  EXPECT_EQ(dropping.batches_per_epoch(), 2u);
}

TEST(Loader, MissingLabelsAreAllIgnoreAndMarkedAbsent) {
  test::TempDir dir;
  test::write_nyud_fixture(dir.path(), 3, 1);
  fs::remove(dir.path() / "depth" / "1001.npy");
  std::ofstream(dir.path() / "meta.json") << R"({"allow_missing_labels": true})";
  auto ds = open_dataset(dir.path());
  PipelineOptions p;
  p.size = cv::Size(16, 12);
  LoaderOptions o;
  o.batch_size = 3;
  o.workers = 1;
  Loader loader(*ds, ds->ids("train"), {"semseg", "depth"}, Pipeline(p, false), o);
  auto batches = epoch(loader, 0);
  ASSERT_EQ(batches.size(), 1u);
  const Batch& b = batches[0];
  EXPECT_TRUE(b.present.at("depth")[0].item<bool>());
  EXPECT_FALSE(b.present.at("depth")[1].item<bool>());
  EXPECT_TRUE(torch::all(b.labels.at("depth")[1] == 255).item<bool>());
  EXPECT_TRUE(b.present.at("semseg")[1].item<bool>());
  // Invalid depth (0 on disk) became ignore.
  EXPECT_EQ(b.labels.at("depth")[0][0][0][0].item<float>(), 255.0f);
  EXPECT_EQ(b.original_sizes[0], cv::Size(16, 12));
}

TEST(Loader, AWorkersErrorReachesTheConsumerNamingTheFile) {
  test::TempDir dir;
  test::write_nyud_fixture(dir.path(), 4, 1);
  std::ofstream(dir.path() / "images" / "1002.jpg", std::ios::binary) << "garbage";
  auto ds = open_dataset(dir.path());
  PipelineOptions p;
  p.size = cv::Size(16, 12);
  LoaderOptions o;
  o.batch_size = 1;
  o.workers = 2;
  Loader loader(*ds, ds->ids("train"), {"semseg"}, Pipeline(p, false), o);
  loader.start_epoch(0);
  test::expect_error([&] {
    while (loader.next()) {
    }
  }, {"images/1002.jpg"});
}

TEST(Loader, ShardsSplitEveryBatchIntoTheOneProcessBatchOrDealOutWholeBatches) {
  Scenes s;
  std::vector<std::string> tasks = {"semseg", "depth"};
  LoaderOptions o;
  o.batch_size = 4;
  o.shuffle = true;
  o.seed = 7;
  o.workers = 0;
  o.drop_last = true;
  Loader whole(*s.ds, s.ds->ids("train"), tasks, Pipeline(train_options(), true), o);
  std::vector<std::vector<Batch>> parts;
  for (int r = 0; r < 2; ++r) {
    LoaderOptions p = o;
    p.shards = 2;
    p.shard = r;
    Loader shard(*s.ds, s.ds->ids("train"), tasks, Pipeline(train_options(), true), p);
    EXPECT_EQ(shard.batches_per_epoch(), whole.batches_per_epoch());
    parts.push_back(epoch(shard, 3));
  }
  auto a = epoch(whole, 3);
  ASSERT_EQ(a.size(), 2u);  // 10 images, batches of 4, the last 2 dropped
  for (std::size_t i = 0; i < a.size(); ++i) {
    // Rank 0's half, then rank 1's: the same images, order and augmentation draws.
    std::vector<std::string> ids = parts[0][i].ids;
    ids.insert(ids.end(), parts[1][i].ids.begin(), parts[1][i].ids.end());
    EXPECT_EQ(ids, a[i].ids);
    EXPECT_TRUE(torch::equal(torch::cat({parts[0][i].image, parts[1][i].image}), a[i].image));
    for (const auto& t : tasks) EXPECT_TRUE(torch::equal(torch::cat({parts[0][i].labels[t], parts[1][i].labels[t]}), a[i].labels[t])) << t;
  }
  // Evaluation: whole batches in turn (batches 0, 2 to rank 0; 1 to rank 1 of three).
  o.shuffle = false;
  o.drop_last = false;
  o.split_batches = false;
  o.shards = 2;
  o.shard = 1;
  Loader dealt(*s.ds, s.ds->ids("train"), tasks, Pipeline(train_options(), false), o);
  EXPECT_EQ(dealt.batches_per_epoch(), 1u);
  auto b = epoch(dealt, 0);
  ASSERT_EQ(b.size(), 1u);
  const std::vector<std::string> ids = s.ds->ids("train");
  EXPECT_EQ(b[0].ids, std::vector<std::string>(ids.begin() + 4, ids.begin() + 8));
  // A batch that does not split evenly is refused.
  LoaderOptions odd = o;
  odd.split_batches = true;
  odd.batch_size = 3;
  test::expect_error([&] { Loader(*s.ds, s.ds->ids("train"), tasks, Pipeline(train_options(), true), odd); }, "3 images");
}

}  // namespace densemtl::data
