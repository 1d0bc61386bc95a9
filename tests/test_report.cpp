// torch
// The results module's writers and figures: what tasks declare for figures, mosaic captions that
// stay inside their tiles, names that reach gnuplot and Markdown as data only.
#include <gtest/gtest.h>

#include <opencv2/core.hpp>

#include "densemtl/report/format.h"
#include "densemtl/report/mosaic.h"
#include "densemtl/report/plots.h"
#include "densemtl/tasks/registry.h"
#include "test_util.h"

namespace densemtl::report {

TEST(Report, TasksDeclareTheirCurvesAndPerClassScores) {
  OrderedJson edge = {{"odsF", 40.0}, {"odsP", 50.0}, {"odsR", 33.0}, {"curve", {{"recall", {0.9, 0.5, 0.1}}, {"precision", {0.2, 0.5, 0.9}}}}};
  const auto curve = tasks::get("edge").pr_curve(edge);
  ASSERT_TRUE(curve.has_value());
  EXPECT_EQ(curve->recall, (std::vector<double>{0.9, 0.5, 0.1}));
  EXPECT_EQ(curve->precision, (std::vector<double>{0.2, 0.5, 0.9}));
  EXPECT_DOUBLE_EQ(curve->ods_f, 0.4);  // stored in percent, drawn as a fraction
  EXPECT_DOUBLE_EQ(curve->ods_p, 0.5);
  EXPECT_DOUBLE_EQ(curve->ods_r, 0.33);
  edge.erase("curve");
  EXPECT_FALSE(tasks::get("edge").pr_curve(edge).has_value());
  EXPECT_FALSE(tasks::get("depth").pr_curve(OrderedJson{{"rmse", 1.0}}).has_value());
  // Per-class scores in the metrics' (the dataset's) order, not alphabetical.
  OrderedJson seg = {{"mIoU", 30.0}, {"per_class_IoU", {{"wall", 50.0}, {"floor", 40.0}, {"bed", 0.0}}}};
  const auto classes = tasks::get("semseg").per_class(seg);
  ASSERT_EQ(classes.size(), 3u);
  EXPECT_EQ(classes[0].first, "wall");
  EXPECT_EQ(classes[2], (std::pair<std::string, double>{"bed", 0.0}));
  EXPECT_TRUE(tasks::get("normals").per_class(OrderedJson{{"mean", 20.0}}).empty());
}

// A long caption is shrunk or shortened to its tile's width: nothing is drawn into the
// neighbouring tile's caption strip.
TEST(Report, MosaicCaptionsNeverOverlapTheNextTile) {
  const cv::Mat tile(40, 60, CV_8UC3, cv::Scalar(0, 0, 0));
  const std::string long_name = "a_very_long_run_name_that_is_much_wider_than_its_tile_multi_task_baseline-fixed-s0 (val Δm +1.23)";
  const cv::Mat m = mosaic({{long_name, tile}, {"", tile}, {"", tile}}, 3);
  const int caption = std::max(14, tile.rows / 10), pad = 2;
  // The second and third tiles' caption strips (after the first tile and its padding) stay white.
  const cv::Mat strip = m(cv::Rect(pad + tile.cols + pad, pad, 2 * tile.cols, caption));
  EXPECT_EQ(cv::countNonZero(strip.reshape(1) != 255), 0);
  // The first tile's strip does hold the (shortened) caption.
  const cv::Mat first = m(cv::Rect(pad, pad, tile.cols, caption));
  EXPECT_GT(cv::countNonZero(first.reshape(1) != 255), 0);
  // A row label in its own tile wraps onto several lines inside it.
  const cv::Mat label = text_tile("multi-task baseline + gradvac, seed 1, on resnet18 x0.25, val dm +1.23", cv::Size(120, 90));
  EXPECT_EQ(label.size(), cv::Size(120, 90));
  EXPECT_GT(cv::countNonZero(label(cv::Rect(0, 45, 120, 45)).reshape(1) != 255), 0);  // the second half is written too
}

// Names reach gnuplot as data: a run called 'x<newline>system "touch F"<newline>y' must not run
// the command, in any kind of plot.
TEST(Report, HostileNamesDoNotRunCommandsInPlots) {
  test::TempDir dir;
  const fs::path witness = dir.path() / "ran";
  const std::string hostile = "x\nsystem \"touch " + witness.string() + "\"\ny' `touch " + witness.string() + "` | <script>";
  std::string error;
  PlotOptions o;
  o.title = hostile;
  o.xlabel = hostile;
  EXPECT_TRUE(line_plot(dir.path() / "line.png", {{hostile, {1, 2}, {1, 2}, false, 1}}, o, &error)) << error;
  EXPECT_TRUE(line_panels(dir.path() / "panels.png", {{hostile, {{hostile, {1, 2}, {1, 2}, false, 2}}}}, o, &error)) << error;
  EXPECT_TRUE(scatter_plot(dir.path() / "scatter.png", {{hostile, 1, 1, 0}, {"b", 2, 2, 0}}, o, true, &error)) << error;
  EXPECT_TRUE(bar_plot(dir.path() / "bars.png", {{hostile, 0, 1, 0.5}}, o, &error)) << error;
  EXPECT_TRUE(pr_plot(dir.path() / "pr.png", {{hostile, {0.1, 0.5}, {0.9, 0.5}, 0.5, 0.5, 0.5}}, o, &error)) << error;
  EXPECT_TRUE(heatmap(dir.path() / "heat.png", {hostile}, {hostile}, {{50.0}}, o, &error)) << error;
  EXPECT_FALSE(fs::exists(witness));
  for (const char* png : {"line.png", "panels.png", "scatter.png", "bars.png", "pr.png", "heat.png"})
    EXPECT_GT(fs::file_size(dir.path() / png), 1000u) << png;
}

// A name with '|' or a line break keeps a Markdown table's shape; HTML escapes markup.
TEST(Report, TablesEscapeNames) {
  Table t;
  t.header = {"Run", "Δm %"};
  t.rows = {{"a|b\nc", "+1.00"}, {"<script>alert(1)</script>", "–"}};
  const std::string md = t.markdown();
  for (const auto& line : split(md, '\n')) {
    if (line.empty()) continue;
    std::size_t bars = 0;
    for (std::size_t i = 0; i < line.size(); ++i) bars += line[i] == '|' && (i == 0 || line[i - 1] != '\\');
    EXPECT_EQ(bars, 3u) << line;
  }
  EXPECT_EQ(t.html().find("<script>"), std::string::npos);
  EXPECT_NE(t.html().find("&lt;script&gt;"), std::string::npos);
  EXPECT_EQ(t.csv(), "Run,Δm %\n\"a|b\nc\",+1.00\n<script>alert(1)</script>,–\n");
}

}  // namespace densemtl::report
