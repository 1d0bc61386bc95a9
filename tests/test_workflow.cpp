// torch
// The whole user workflow through the command line on a tiny dataset: train, evaluate a run and a
// prediction folder (the same numbers), bad prediction folders, predict, report with Delta_m,
// importing a reference-style checkpoint, info --config.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <torch/torch.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "densemtl/core/json.h"
#include "densemtl/vision/io/image.h"
#include "densemtl/vision/io/npy.h"
#include "fixtures.h"
#include "test_util.h"

namespace densemtl {

namespace {

using Result = test::CommandResult;
Result run(const std::string& args) { return test::run_densemtl(args); }

std::string config_text(const fs::path& data, const std::string& arch, const std::string& tasks) {
  return "data:\n  dataset: synthetic\n  root: " + data.string() + "\n  val_split: val\n  input_size: [32, 40]\n  workers: 1\n" +
         "tasks:\n  main: [" + tasks + "]\nmodel:\n  architecture: " + arch + "\n  head: deeplab\n  width: 0.125\n" +
         "backbone:\n  name: resnet18\noptimizer:\n  name: adam\n  lr: 1.0e-3\ntrain:\n  epochs: 1\n  batch_size: 4\neval:\n  batch_size: 4\n";
}

}  // namespace

TEST(Workflow, TrainEvaluatePredictReportImport) {
  test::TempDir dir;
  const fs::path d = dir.path();
  const std::string data = (d / "scenes").string();
  ASSERT_EQ(run("generate --out " + data + " --size 32x40 --train 8 --val 2 --test 3 --seed 2").status, 0);
  std::ofstream(d / "st.yaml") << config_text(d / "scenes", "single_task", "semseg");
  std::ofstream(d / "mt.yaml") << config_text(d / "scenes", "baseline", "semseg, depth");
  Result st = run("train --config " + (d / "st.yaml").string() + " --out " + (d / "st").string());
  ASSERT_EQ(st.status, 0) << st.output;
  Result mt = run("train --config " + (d / "mt.yaml").string() + " --out " + (d / "mt").string());
  ASSERT_EQ(mt.status, 0) << mt.output;
  EXPECT_NE(mt.output.find("semseg"), std::string::npos) << mt.output;

  // Evaluating the run and its saved prediction folder gives the run's own test metrics.
  Json saved = read_json(d / "mt" / "metrics.json");
  Result ev = run("evaluate --run " + (d / "mt").string() + " --json " + (d / "ev.json").string());
  ASSERT_EQ(ev.status, 0) << ev.output;
  EXPECT_EQ(read_json(d / "ev.json"), saved);
  const std::string preds = (d / "mt" / "predictions" / "test").string();
  Result folder = run("evaluate --dataset " + data + " --split test --predictions " + preds + " --json " + (d / "folder.json").string());
  ASSERT_EQ(folder.status, 0) << folder.output;
  EXPECT_EQ(read_json(d / "folder.json"), saved);
  EXPECT_TRUE(saved["depth"].contains("rmse"));
  EXPECT_TRUE(saved["semseg"].contains("per_class_IoU"));

  // A missing prediction and a prediction of the wrong size are named.
  fs::rename(d / "mt" / "predictions" / "test" / "depth" / "test_00001.npy", d / "moved.npy");
  Result missing = run("evaluate --dataset " + data + " --split test --predictions " + preds);
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.output.find("1 prediction file(s) missing"), std::string::npos) << missing.output;
  EXPECT_NE(missing.output.find("depth/test_00001.npy"), std::string::npos) << missing.output;
  npy::write_mat(d / "mt" / "predictions" / "test" / "depth" / "test_00001.npy", cv::Mat(10, 10, CV_32F, cv::Scalar(1)));
  Result wrong = run("evaluate --dataset " + data + " --split test --predictions " + preds);
  EXPECT_EQ(wrong.status, 1);
  EXPECT_NE(wrong.output.find("is 10x10, the image is 32x40"), std::string::npos) << wrong.output;
  // A task folder missing: an error when --tasks names it, said when the dataset has the task.
  fs::rename(d / "mt" / "predictions" / "test" / "depth", d / "depth_moved");
  Result named = run("evaluate --dataset " + data + " --split test --predictions " + preds + " --tasks semseg,depth");
  EXPECT_EQ(named.status, 1);
  EXPECT_NE(named.output.find("no prediction folder depth/ for task depth (named by --tasks)"), std::string::npos) << named.output;
  Result partial = run("evaluate --dataset " + data + " --split test --predictions " + preds);
  EXPECT_EQ(partial.status, 0) << partial.output;
  EXPECT_NE(partial.output.find("scoring semseg; no predictions for the dataset's"), std::string::npos) << partial.output;
  EXPECT_NE(partial.output.find("depth"), std::string::npos) << partial.output;
  fs::rename(d / "depth_moved", d / "mt" / "predictions" / "test" / "depth");
  Result unknown = run("evaluate --dataset " + data + " --split test --predictions " + preds + " --tasks semseg,dpeth");
  EXPECT_EQ(unknown.status, 1);
  EXPECT_NE(unknown.output.find("unknown task 'dpeth'"), std::string::npos) << unknown.output;

  // Predict on a dataset split (with ground truth) and on a single image.
  Result p = run("predict --run " + (d / "mt").string() + " --input " + data + " --split test --out " + (d / "pred").string());
  ASSERT_EQ(p.status, 0) << p.output;
  EXPECT_TRUE(fs::exists(d / "pred" / "semseg" / "test_00002.png"));
  EXPECT_TRUE(fs::exists(d / "pred" / "depth" / "test_00002.npy"));
  EXPECT_TRUE(fs::exists(d / "pred" / "pictures" / "depth" / "test_00002.png"));
  cv::Mat mosaic = image::read_rgb(d / "pred" / "mosaics" / "test_00002.png");
  EXPECT_GT(mosaic.rows, 2 * 32);  // predictions and ground truth rows
  Result one = run("predict --run " + (d / "mt").string() + " --input " + data + "/images/train_00000.jpg --out " + (d / "one").string());
  ASSERT_EQ(one.status, 0) << one.output;
  EXPECT_TRUE(fs::exists(d / "one" / "mosaics" / "train_00000.png"));
  // A truncated JPEG is rejected by predict as by the dataset reader (not decoded partially).
  std::string jpeg = read_file(fs::path(data) / "images" / "train_00000.jpg");
  std::ofstream(d / "cut.jpg", std::ios::binary) << jpeg.substr(0, jpeg.size() / 2);
  Result cut = run("predict --run " + (d / "mt").string() + " --input " + (d / "cut.jpg").string() + " --out " + (d / "cut").string());
  EXPECT_EQ(cut.status, 1) << cut.output;
  EXPECT_NE(cut.output.find("cut.jpg: corrupt JPEG"), std::string::npos) << cut.output;

  // Report: Delta_m of the multi-task run against the single-task semseg run is incomplete
  // (no single-task depth run), and the table has the trivial predictor.
  Result rep = run("report " + (d / "st").string() + " " + (d / "mt").string() + " --out " + (d / "report").string());
  ASSERT_EQ(rep.status, 0) << rep.output;
  std::string md = read_file(d / "report" / "report.md");
  EXPECT_NE(md.find("trivial predictor"), std::string::npos);
  EXPECT_NE(md.find("no single-task depth"), std::string::npos) << md;
  EXPECT_NE(md.find("+0.00 (baseline)"), std::string::npos) << md;
  EXPECT_TRUE(fs::exists(d / "report" / "report.csv"));
  std::string html = read_file(d / "report" / "report.html");
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);
  // One figure of every run's validation losses, a panel per task; a per-class heat map of the
  // segmentation runs; mosaics. (No Δm chart: no run has a complete Δm.)
  EXPECT_TRUE(fs::exists(d / "report" / "curves" / "losses_0.png"));
  EXPECT_TRUE(fs::exists(d / "report" / "figures" / "iou_semseg.png"));
  EXPECT_TRUE(fs::exists(d / "report" / "mosaics" / "test_0.png"));
  EXPECT_FALSE(fs::exists(d / "report" / "figures" / "delta_m.png"));

  // Import: the multi-task weights as the survey's code saves them (DataParallel's "module."
  // prefix, inside {"model": ..., "epoch": ...}).
  torch::serialize::InputArchive best;
  best.load_from((d / "mt" / "best.pt").string());
  c10::Dict<std::string, at::Tensor> sd;
  for (const auto& key : best.keys()) {
    at::Tensor t;
    if (best.try_read(key, t)) sd.insert("module." + key.substr(6), t);
  }
  c10::impl::GenericDict ckpt(c10::StringType::get(), c10::AnyType::get());
  ckpt.insert("model", sd);
  ckpt.insert("epoch", static_cast<std::int64_t>(7));
  std::vector<char> bytes = torch::pickle_save(ckpt);
  std::ofstream(d / "checkpoint.pth.tar", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  Result imp = run("import --config " + (d / "mt.yaml").string() + " --checkpoint " + (d / "checkpoint.pth.tar").string() +
                   " --out " + (d / "imported").string());
  ASSERT_EQ(imp.status, 0) << imp.output;
  Result ev2 = run("evaluate --run " + (d / "imported").string() + " --json " + (d / "ev2.json").string());
  ASSERT_EQ(ev2.status, 0) << ev2.output;
  EXPECT_EQ(read_json(d / "ev2.json"), saved);
  // A checkpoint of another model is refused by name.
  Result bad = run("import --config " + (d / "st.yaml").string() + " --checkpoint " + (d / "checkpoint.pth.tar").string() +
                   " --out " + (d / "bad").string());
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("does not fit"), std::string::npos) << bad.output;

  // info --config: parameters per component and FLOPs.
  Result info = run("info --config " + (d / "mt.yaml").string());
  ASSERT_EQ(info.status, 0) << info.output;
  EXPECT_NE(info.output.find("backbone"), std::string::npos);
  EXPECT_NE(info.output.find("FLOPs per image at 32x40"), std::string::npos) << info.output;
  // Without best.pt, evaluate --run says it uses the last checkpoint.
  fs::remove(d / "mt" / "best.pt");
  Result last = run("evaluate --run " + (d / "mt").string());
  EXPECT_EQ(last.status, 0) << last.output;
  EXPECT_NE(last.output.find("no best.pt"), std::string::npos) << last.output;
  EXPECT_NE(last.output.find("checkpoint.pt"), std::string::npos) << last.output;
  // A file where a folder must be created: one line naming the path, not an internal error.
  Result notdir = run("train --config " + (d / "mt.yaml").string() + " --out " + (d / "mt.yaml" / "run").string());
  EXPECT_EQ(notdir.status, 1);
  EXPECT_NE(notdir.output.find("mt.yaml/run: cannot create directories: Not a directory"), std::string::npos) << notdir.output;
  EXPECT_EQ(notdir.output.find("internal error"), std::string::npos) << notdir.output;
  Result typo = run("train --config " + (d / "mt.yaml").string() + " --set train.epoch=3");
  EXPECT_EQ(typo.status, 1);
  EXPECT_NE(typo.output.find("unknown key 'train.epoch'"), std::string::npos) << typo.output;
}

TEST(Workflow, EvaluatePrintsBoundaryScoresForANyudFixture) {
  test::TempDir dir;
  const fs::path d = dir.path();
  test::write_nyud_fixture(d / "nyud", 2, 3, 24, 32);
  // Predictions: the ground-truth boundaries themselves (odsF 100), and an empty map.
  for (const char* id : {"1002", "1003", "1004"}) {
    cv::Mat edge = npy::read_mat(d / "nyud" / "edge" / (std::string(id) + ".npy"), 1), png;
    edge.convertTo(png, CV_8U, 255);
    image::write(d / "perfect" / "edge" / (std::string(id) + ".png"), png);
    image::write(d / "empty" / "edge" / (std::string(id) + ".png"), cv::Mat::zeros(24, 32, CV_8U));
  }
  Result r = run("evaluate --dataset " + (d / "nyud").string() + " --split val --predictions " + (d / "perfect").string() +
                 " --json " + (d / "m.json").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("odsF 100"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("oisF"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("AP"), std::string::npos) << r.output;
  Json m = read_json(d / "m.json");
  EXPECT_DOUBLE_EQ(m["edge"]["odsF"].get<double>(), 100.0);
  EXPECT_DOUBLE_EQ(m["edge"]["max_dist"].get<double>(), 0.011);  // NYUD's tolerance
  Result e = run("evaluate --dataset " + (d / "nyud").string() + " --split val --predictions " + (d / "empty").string());
  ASSERT_EQ(e.status, 0) << e.output;
  EXPECT_NE(e.output.find("odsF 0"), std::string::npos) << e.output;
}

}  // namespace densemtl
