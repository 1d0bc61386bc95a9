// torch
// Careless and hostile input, as a user would give it: nothing a user names runs as a command or
// escapes its folder, no command destroys results it did not make, numbers are range-checked, a
// run that cannot mean anything says so, and every error is one line a user can act on.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <png.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "densemtl/core/file_lock.h"
#include "densemtl/core/json.h"
#include "densemtl/tasks/metric.h"
#include "densemtl/vision/io/image.h"
#include "densemtl/vision/io/npy.h"
#include "test_util.h"

namespace densemtl {

namespace {

using Result = test::CommandResult;
Result run(const std::string& args) { return test::run_densemtl(args); }

void write(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

// A small procedural dataset and a one-epoch config for it.
struct Scenes {
  test::TempDir dir;
  fs::path data = dir.path() / "scenes";
  Scenes() { EXPECT_EQ(run("generate --out " + data.string() + " --size 24x32 --train 8 --val 2 --test 2 --seed 1").status, 0); }
  fs::path config(const std::string& extra = "", const std::string& tasks = "semseg, depth") const {
    const fs::path file = dir.path() / "exp.yaml";
    write(file, "data:\n  dataset: synthetic\n  root: " + data.string() + "\n  val_split: val\n  input_size: [24, 32]\n  workers: 0\n" +
                    "tasks:\n  main: [" + tasks + "]\nmodel:\n  architecture: baseline\n  head: deeplab\n  width: 0.125\n" +
                    "backbone:\n  name: resnet18\noptimizer:\n  name: adam\n  lr: 1.0e-3\ntrain:\n  epochs: 1\n  batch_size: 4\n" +
                    "eval:\n  batch_size: 4\nthreads: 1\n" + extra);
    return file;
  }
};

}  // namespace

TEST(HostileInput, NumbersAreRangeCheckedBeforeAnyWork) {
  test::TempDir dir;
  const std::string out = (dir.path() / "g").string();
  for (const std::string& bad : {"--train 2147483647", "--val 99999999", "--size 99999x8", "--size 100000x100000"}) {
    Result r = run("generate --out " + out + " " + bad);
    EXPECT_EQ(r.status, 2) << bad << ": " << r.output;
    EXPECT_EQ(r.output.find("-2147483648"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out)) << bad;
  }
  Result shard = run("benchmark --protocol p.yaml --grid g.yaml --out " + out + " --shard 99999999999999/1");
  EXPECT_EQ(shard.status, 2) << shard.output;
  EXPECT_EQ(shard.output.find("stoi"), std::string::npos) << shard.output;
  for (const std::string& cmd : {"generate --out " + out + " --threads -1", "report x --out " + out + " --mosaics -1",
                                 std::string("train --config x.yaml --stop-after 0")}) {
    Result r = run(cmd);
    EXPECT_EQ(r.status, 2) << cmd << ": " << r.output;
    EXPECT_EQ(r.output.find("179769313"), std::string::npos) << cmd << ": " << r.output;  // no 309-digit bound
  }
  Result empty = run("generate --out '' --train 2");
  EXPECT_EQ(empty.status, 2) << empty.output;
  EXPECT_NE(empty.output.find("--out"), std::string::npos) << empty.output;
}

// The validation and test splits follow --train unless given (800: 100 and 200).
TEST(HostileInput, SmallDatasetsGetProportionateSplits) {
  test::TempDir dir;
  Result r = run("generate --out " + (dir.path() / "g").string() + " --size 16x16 --train 16");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("images: 16 train, 2 val, 4 test"), std::string::npos) << r.output;
}

TEST(HostileInput, ConfigsRefuseAliasesTabsAndUnsafeNames) {
  test::TempDir dir;
  // A "billion laughs": nine nested aliases of nine would expand to 387 million values.
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int k = 0; k < 9; ++k) bomb += std::string(k ? ", *" : "*") + static_cast<char>(c - 1);
    bomb += "]\n";
  }
  write(dir.path() / "bomb.yaml", bomb);
  const auto start = std::chrono::steady_clock::now();
  Result r = run("info --config " + (dir.path() / "bomb.yaml").string());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("bomb.yaml:1: a YAML anchor"), std::string::npos) << r.output;
  write(dir.path() / "tabs.yaml", "data:\n\tdataset: synthetic\n");
  r = run("info --config " + (dir.path() / "tabs.yaml").string());
  EXPECT_NE(r.output.find("tabs.yaml:2: indented with a tab"), std::string::npos) << r.output;
  Scenes s;
  for (const std::string& name : {"../escape", "a/b", ".."}) {
    r = run("train --config " + s.config("name: \"" + name + "\"\n").string());
    EXPECT_EQ(r.status, 1) << name << ": " << r.output;
    EXPECT_NE(r.output.find("is not a plain folder name"), std::string::npos) << r.output;
  }
}

// The test split is scored once, never used to choose or train the model, unless a key says so.
TEST(HostileInput, SelectingOnTheTestSplitIsRefusedUnlessMeant) {
  Scenes s;
  Result r = run("info --config " + s.config().string() + " --set data.val_split=test");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("data.val_split: 'test' is also data.test_split"), std::string::npos) << r.output;
  r = run("info --config " + s.config().string() + " --set data.train_split=test");
  EXPECT_NE(r.output.find("data.train_split: 'test' is also data.test_split"), std::string::npos) << r.output;
  r = run("info --config " + s.config().string() + " --set data.val_split=test --set data.select_on_test=true");
  EXPECT_EQ(r.status, 0) << r.output;
}

// A run folder holds one run: a user's files, a finished run and a folder being trained are left
// as they are, and a failed training leaves no half-made folder behind.
TEST(HostileInput, TrainingNeverDestroysWhatItDidNotMake) {
  Scenes s;
  const fs::path user = s.dir.path() / "mine";
  write(user / "config.yaml", "# my carefully commented config\nseed: 1\n");
  write(user / "notes.tmp.txt", "keep me");
  Result r = run("train --config " + s.config().string() + " --out " + user.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("which is not part of a densemtl run"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(user / "config.yaml"), "# my carefully commented config\nseed: 1\n");
  EXPECT_TRUE(fs::exists(user / "notes.tmp.txt"));
  EXPECT_FALSE(fs::exists(user / "train.lock"));

  const fs::path done = s.dir.path() / "done";
  ASSERT_EQ(run("train --config " + s.config().string() + " --out " + done.string()).status, 0);
  fs::remove(done / "checkpoint.pt");
  const std::string metrics = read_file(done / "metrics.json");
  r = run("train --config " + s.config().string() + " --out " + done.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("holds a finished run"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(done / "metrics.json"), metrics);

  // A second training of a folder being trained is refused, naming the first.
  const fs::path busy = s.dir.path() / "busy";
  fs::create_directories(busy);
  FileLock held = FileLock::try_lock(busy / "train.lock");
  ASSERT_TRUE(held.held());
  r = run("train --config " + s.config().string() + " --out " + busy.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(fmt::format("is being trained by pid {}", ::getpid())), std::string::npos) << r.output;

  // A training that fails before its first checkpoint removes the folder it created.
  const fs::path failed = s.dir.path() / "failed";
  r = run("train --config " + s.config().string() + " --out " + failed.string() + " --set data.root=" + (s.dir.path() / "nowhere").string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_FALSE(fs::exists(failed));
}

TEST(HostileInput, ImportAndBranchDoNotOverwriteWhatTheyRead) {
  Scenes s;
  const fs::path a = s.dir.path() / "a", b = s.dir.path() / "b";
  ASSERT_EQ(run("train --config " + s.config().string() + " --out " + a.string()).status, 0);
  const std::string weights = read_file(a / "best.pt");
  // densemtl's own weights import; onto a trained run only with --force.
  Result r = run("import --config " + s.config().string() + " --checkpoint " + (a / "best.pt").string() + " --out " + b.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("__torch__"), std::string::npos) << r.output;
  r = run("import --config " + s.config().string() + " --checkpoint " + (b / "best.pt").string() + " --out " + a.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("already holds a run; pass --force"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(a / "best.pt"), weights);
  EXPECT_TRUE(fs::exists(a / "checkpoint.pt"));
  r = run("branch --config " + s.config().string() + " --runs x y --budget 2x --out " + s.config().string());
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(read_file(s.config()).find("architecture: baseline"), std::string::npos);
}

TEST(HostileInput, DamagedCheckpointsAndMistypedMetaAreNamed) {
  Scenes s;
  const fs::path a = s.dir.path() / "a";
  ASSERT_EQ(run("train --config " + s.config().string() + " --out " + a.string()).status, 0);
  const std::string bytes = read_file(a / "best.pt");
  std::ofstream(a / "best.pt", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  Result r = run("evaluate --run " + a.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("best.pt: not a densemtl weights file: the file is truncated or damaged"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("PytorchStreamReader"), std::string::npos) << r.output;
  std::ofstream(a / "best.pt", std::ios::binary).flush();  // empty
  r = run("evaluate --run " + a.string());
  EXPECT_NE(r.output.find("is empty (0 bytes"), std::string::npos) << r.output;

  Json meta = read_json(s.data / "meta.json");
  meta["edge_max_dist"] = "small";
  write_json(s.data / "meta.json", meta);
  r = run("info --dataset " + s.data.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("meta.json: edge_max_dist: expected a number, got \"small\""), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("json.exception"), std::string::npos) << r.output;
  meta.erase("edge_max_dist");
  write_json(s.data / "meta.json", meta);
  write(s.data / "gt_sets" / "test.txt", "test_00000\ntest_\xff\xfe\n");
  r = run("info --dataset " + s.data.string() + " --check");
  EXPECT_NE(r.output.find("test.txt:2: the id is not valid UTF-8"), std::string::npos) << r.output;
}

// Every depth pixel invalid: no metric of nothing (not a perfect RMSE of 0), and training stops
// instead of reporting a loss of 0.
TEST(HostileInput, ARunWithoutValidPixelsSaysSo) {
  auto metric = tasks::make_depth_metric();
  metric->update(cv::Mat(4, 4, CV_32F, cv::Scalar(1)), cv::Mat(4, 4, CV_32F, cv::Scalar(0)));
  const OrderedJson result = metric->result();
  EXPECT_TRUE(result["rmse"].is_null()) << result.dump();
  EXPECT_EQ(result["images"], 0);
  auto normals = tasks::make_normals_metric();
  normals->update(cv::Mat(4, 4, CV_8UC3, cv::Scalar(128, 128, 255)), cv::Mat(4, 4, CV_32FC3, cv::Scalar::all(0)));
  EXPECT_TRUE(normals->result()["mean"].is_null());
  auto seg = tasks::make_miou_metric({"a", "b"});
  seg->update(cv::Mat(4, 4, CV_8U, cv::Scalar(0)), cv::Mat(4, 4, CV_8U, cv::Scalar(255)));
  EXPECT_TRUE(seg->result()["mIoU"].is_null());

  Scenes s;
  for (const auto& e : fs::directory_iterator(s.data / "depth")) npy::write_mat(e.path(), cv::Mat(24, 32, CV_32F, cv::Scalar(0)));
  Result r = run("train --config " + s.config().string() + " --out " + (s.dir.path() / "r").string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("task depth: no training label has a valid pixel"), std::string::npos) << r.output;
  r = run("info --dataset " + s.data.string() + " --check");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("task depth: none of its 12 labels has a valid pixel"), std::string::npos) << r.output;
}

TEST(HostileInput, TheCommandLineHelpsWithSlips) {
  Result r = run("trian --config x.yaml");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("unknown subcommand 'trian' (did you mean 'train'?)"), std::string::npos) << r.output;
  test::TempDir dir;
  r = run("generate --out " + (dir.path() / "g").string() + " --size 8x8 --train 1 -q");  // -q after the subcommand
  EXPECT_EQ(r.status, 0) << r.output;
  r = run("launch --nproc 2 -- generate --out " + (dir.path() / "h").string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("'generate' does not run as several processes"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir.path() / "h"));
  r = run("launch --nproc 2 train --config x.yaml");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("put the command after --"), std::string::npos) << r.output;
  // A port in use is one line, not the rendezvous library's log.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  r = run(fmt::format("launch --nproc 2 --port {} -- train --config x.yaml", ntohs(a.sin_port)));
  ::close(fd);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(fmt::format("port {} on 127.0.0.1 is in use", ntohs(a.sin_port))), std::string::npos) << r.output;
}

// Ctrl-C says how to continue.
TEST(HostileInput, InterruptedTrainingSaysHowToResume) {
  Scenes s;
  const fs::path out = s.dir.path() / "r", log = s.dir.path() / "log.txt";
  const pid_t pid = test::spawn({"train", "--config", s.config().string(), "--out", out.string(), "--set", "train.epochs=1000"}, {}, log);
  // Interrupt once the first epoch is done (its checkpoint written).
  for (int i = 0; i < 600 && !fs::exists(out / "checkpoint.pt"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(fs::exists(out / "checkpoint.pt"));
  ::kill(pid, SIGINT);
  EXPECT_EQ(test::wait_for(pid, 30), 128 + SIGINT);
  const std::string said = read_file(log);
  EXPECT_NE(said.find("interrupted; the last finished epoch's checkpoint is kept"), std::string::npos) << said;
  EXPECT_NE(said.find("--out " + out.string() + " --resume"), std::string::npos) << said;
}

TEST(HostileInput, LargeImagesAreRefusedWithTheReason) {
  Scenes s;
  const fs::path a = s.dir.path() / "a";
  ASSERT_EQ(run("train --config " + s.config().string() + " --out " + a.string()).status, 0);
  image::write_rgb(s.dir.path() / "big.png", cv::Mat(300, 400, CV_8UC3, cv::Scalar(10, 20, 30)));
  Result r = run("predict --run " + a.string() + " --input " + (s.dir.path() / "big.png").string() + " --out " +
                 (s.dir.path() / "p").string() + " --max-megapixels 0.1");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("big.png: 400x300 is 0.12 megapixels, more than --max-megapixels 0.1"), std::string::npos) << r.output;
}

namespace {

// A palette PNG of `indices` with `palette` (RGB triples), written with libpng.
void write_palette_png(const fs::path& file, const cv::Mat& indices, const std::vector<png_color>& palette) {
  FILE* f = std::fopen(file.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, static_cast<png_uint_32>(indices.cols), static_cast<png_uint_32>(indices.rows), 8, PNG_COLOR_TYPE_PALETTE,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_PLTE(png, info, palette.data(), static_cast<int>(palette.size()));
  png_write_info(png, info);
  for (int y = 0; y < indices.rows; ++y) png_write_row(png, const_cast<png_bytep>(indices.ptr<png_byte>(y)));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

}  // namespace

// PASCAL VOC's class maps are palette PNGs: their pixels are the palette indices (classes), not
// the colours; a grey palette stands for grey values.
TEST(HostileInput, PaletteLabelPngsReadAsTheirIndices) {
  test::TempDir dir;
  cv::Mat classes(3, 4, CV_8U);
  for (int i = 0; i < 12; ++i) classes.at<std::uint8_t>(i / 4, i % 4) = static_cast<std::uint8_t>(i % 3 == 2 ? 255 : i % 3);
  std::vector<png_color> voc(256, png_color{0, 0, 0});
  voc[1] = {128, 0, 0};
  voc[2] = {0, 128, 0};
  voc[255] = {224, 224, 192};
  write_palette_png(dir.path() / "voc.png", classes, voc);
  const cv::Mat read = image::read_gray(dir.path() / "voc.png");
  ASSERT_EQ(read.type(), CV_8U);
  EXPECT_EQ(cv::countNonZero(read != classes), 0);
  std::vector<png_color> grey = {{0, 0, 0}, {255, 255, 255}};
  cv::Mat binary = cv::Mat::zeros(2, 2, CV_8U);
  binary.at<std::uint8_t>(1, 1) = 1;
  write_palette_png(dir.path() / "grey.png", binary, grey);
  EXPECT_EQ(image::read_gray(dir.path() / "grey.png").at<std::uint8_t>(1, 1), 255);
  // A palette PNG cut short is a one-line error naming it.
  const std::string bytes = read_file(dir.path() / "voc.png");
  std::ofstream(dir.path() / "cut.png", std::ios::binary) << bytes.substr(0, 60) << "IEND";
  test::expect_error([&] { image::read_gray(dir.path() / "cut.png"); }, {"cut.png: corrupt palette PNG"});
}

TEST(HostileInput, TemporaryFilesOfOthersAreKept) {
  test::TempDir dir;
  write(dir.path() / "notes.tmp.txt", "mine");
  write(dir.path() / "run.json.tmp.123.4", "a killed writer's");
  write(dir.path() / "x.tmp.12a.4", "not ours either");
  remove_temporary_files(dir.path());
  EXPECT_TRUE(fs::exists(dir.path() / "notes.tmp.txt"));
  EXPECT_TRUE(fs::exists(dir.path() / "x.tmp.12a.4"));
  EXPECT_FALSE(fs::exists(dir.path() / "run.json.tmp.123.4"));
}

}  // namespace densemtl
