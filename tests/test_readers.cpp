// Dataset readers on fixtures in the real on-disk formats, and their errors on bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "densemtl/data/dataset.h"
#include "densemtl/vision/io/image.h"
#include "densemtl/vision/io/mat.h"
#include "densemtl/vision/io/npy.h"
#include "densemtl/data/readers/readers.h"
#include "densemtl/data/summary.h"
#include "fixtures.h"
#include "test_util.h"

namespace densemtl::data {

TEST(NyudReader, ReadsTheNyudMtLayoutWithItsConventions) {
  test::TempDir dir;
  test::write_nyud_fixture(dir.path());
  auto ds = open_dataset(dir.path());
  EXPECT_EQ(ds->info().format, Format::NYUD);
  EXPECT_EQ(ds->info().tasks, (std::vector<std::string>{"semseg", "normals", "edge", "depth"}));
  EXPECT_EQ(ds->info().class_names.size(), 40u);
  EXPECT_EQ(ds->info().splits, (std::vector<std::string>{"train", "val"}));
  auto ids = ds->ids("train");
  ASSERT_EQ(ids, (std::vector<std::string>{"1000", "1001", "1002"}));
  Sample s = ds->load("1001");
  EXPECT_EQ(s.image.type(), CV_32FC3);
  EXPECT_EQ(s.image.size(), cv::Size(16, 12));
  const cv::Mat& seg = s.labels.at("semseg");
  // On disk (1 + x) % 41: x = 0 -> 1 -> class 0; x = 40 - 1 = 39 -> 40 -> class 39; 0 -> ignore.
  EXPECT_EQ(seg.at<float>(0, 0), 0.0f);
  EXPECT_EQ(seg.at<float>(0, 5), 5.0f);
  EXPECT_FLOAT_EQ(s.labels.at("depth").at<float>(3, 10), 2.0f);
  EXPECT_EQ(s.labels.at("depth").at<float>(0, 0), 0.0f);
  EXPECT_EQ(s.labels.at("normals").type(), CV_32FC3);
  EXPECT_EQ(s.labels.at("edge").at<float>(4, 8), 1.0f);
  Sample only = ds->load("1000", {"depth"});
  EXPECT_EQ(only.labels.size(), 1u);
  test::expect_error([&] { ds->load("1000", {"sal"}); }, {"no 'sal' labels"});
}

TEST(NyudReader, BadInputGivesOneLineNamingTheFile) {
  test::TempDir dir;
  test::write_nyud_fixture(dir.path());
  auto ds = open_dataset(dir.path());
  test::expect_error([&] { ds->ids("test"); }, {"gt_sets/test.txt", "split list not found", "train, val"});
  test::expect_error([&] { ds->load("9999"); }, {"images/9999.jpg", "not found"});
  // Corrupt JPEG.
  std::string jpg = read_file(dir.path() / "images" / "1000.jpg");
  std::ofstream(dir.path() / "images" / "1000.jpg", std::ios::binary) << jpg.substr(0, jpg.size() / 2);
  test::expect_error([&] { ds->load("1000"); }, {"images/1000.jpg", "corrupt JPEG"});
  // A depth map of the wrong shape and a normals map of the wrong dtype.
  npy::write_mat(dir.path() / "depth" / "1001.npy", cv::Mat(12, 16, CV_32FC3, cv::Scalar::all(1)));
  test::expect_error([&] { ds->load("1001", {"depth"}); }, {"depth/1001.npy", "(H, W)", "(12, 16, 3)"});
  npy::Array bad;
  bad.descr = "<c8";
  bad.shape = {12, 16, 3};
  bad.data.assign(12 * 16 * 3 * 8, '\0');
  npy::write(dir.path() / "normals" / "1001.npy", bad);
  test::expect_error([&] { ds->load("1001", {"normals"}); }, {"normals/1001.npy", "unsupported dtype"});
  // A segmentation value beyond the class count.
  image::write(dir.path() / "segmentation" / "1002.png", cv::Mat(12, 16, CV_8U, cv::Scalar(77)));
  test::expect_error([&] { ds->load("1002", {"semseg"}); }, {"segmentation/1002.png", "out of range"});
  // A missing split folder.
  test::TempDir empty;
  fs::create_directories(empty.path() / "images");
  test::expect_error([&] { open_nyud(empty.path()); }, {"gt_sets", "not found"});
}

TEST(NyudReader, LabelsOfAnotherSizeAreErrorsNamingTheFileAndBothSizes) {
  test::TempDir dir;
  test::write_nyud_fixture(dir.path(), 1, 1);  // 12 x 16 images
  auto ds = open_dataset(dir.path());
  npy::write_mat(dir.path() / "depth" / "1000.npy", cv::Mat(6, 8, CV_32F, cv::Scalar(3)));
  test::expect_error([&] { ds->load("1000", {"depth"}); }, {"depth/1000.npy", "6x8", "12x16"});
  npy::write_mat(dir.path() / "depth" / "1000.npy", cv::Mat(16, 12, CV_32F, cv::Scalar(3)));  // transposed
  test::expect_error([&] { ds->load("1000", {"depth"}); }, {"depth/1000.npy", "16x12", "12x16"});
  image::write(dir.path() / "segmentation" / "1000.png", cv::Mat(10, 16, CV_8U, cv::Scalar(1)));
  test::expect_error([&] { ds->load("1000", {"semseg"}); }, {"segmentation/1000.png", "10x16", "12x16"});
  npy::write_mat(dir.path() / "normals" / "1000.npy", cv::Mat(12, 15, CV_32FC3, cv::Scalar(0, 0, 1)));
  test::expect_error([&] { ds->load("1000", {"normals"}); }, {"normals/1000.npy", "12x15", "12x16"});
  // info --check reports the same file.
  DatasetReport r = describe(*ds, true, 1);
  ASSERT_FALSE(r.problems.empty());
  EXPECT_NE(r.problems[0].find("1000."), std::string::npos);
  EXPECT_NE(r.problems[0].find("its image is 12x16"), std::string::npos);
}

TEST(NyudReader, NonFiniteOrNegativeLabelValuesAreErrorsNamingTheFile) {
  test::TempDir dir;
  test::write_nyud_fixture(dir.path(), 1, 1);  // 12 x 16, depth 0 = invalid at (0, 0)
  auto ds = open_dataset(dir.path());
  auto depth_with = [&](float v) {
    cv::Mat d(12, 16, CV_32F, cv::Scalar(2));
    d.at<float>(3, 5) = v;
    d.at<float>(7, 1) = v;
    npy::write_mat(dir.path() / "depth" / "1000.npy", d);
  };
  depth_with(NAN);
  test::expect_error([&] { ds->load("1000", {"depth"}); }, {"depth/1000.npy", "2 non-finite depth value(s)", "row 3, column 5"});
  depth_with(INFINITY);
  test::expect_error([&] { ds->load("1000", {"depth"}); }, {"depth/1000.npy", "2 non-finite depth"});
  depth_with(-1.5f);
  test::expect_error([&] { ds->load("1000", {"depth"}); }, {"depth/1000.npy", "2 negative depth value(s)", "0 = invalid"});
  depth_with(0.0f);  // the invalid marker
  EXPECT_EQ(ds->load("1000", {"depth"}).labels.at("depth").at<float>(3, 5), 0.0f);
  cv::Mat n(12, 16, CV_32FC3, cv::Scalar(0, 0, 1));
  n.at<cv::Vec3f>(2, 9) = cv::Vec3f(0, NAN, 1);
  npy::write_mat(dir.path() / "normals" / "1000.npy", n);
  test::expect_error([&] { ds->load("1000", {"normals"}); }, {"normals/1000.npy", "1 non-finite normals value(s)", "row 2, column 9"});
  cv::Mat e = cv::Mat::zeros(12, 16, CV_32F);
  e.at<float>(0, 0) = NAN;
  npy::write_mat(dir.path() / "edge" / "1000.npy", e);
  test::expect_error([&] { ds->load("1000", {"edge"}); }, {"edge/1000.npy", "non-finite edge"});
  // info --check names the same files.
  DatasetReport r = describe(*ds, true, 1);
  ASSERT_EQ(r.problems.size(), 1u);  // one problem per sample: its first bad file
  EXPECT_NE(r.problems[0].find("1000"), std::string::npos);
}

TEST(NyudReader, IntegerDepthOrNormalsAreErrorsNamingTheFileAndDtype) {
  // Integer depth is usually millimetres: converting it to float metres silently is a 1000x error.
  test::TempDir dir;
  test::write_nyud_fixture(dir.path(), 1, 1);
  auto ds = open_dataset(dir.path());
  npy::write_mat(dir.path() / "depth" / "1000.npy", cv::Mat(12, 16, CV_32S, cv::Scalar(2500)));
  test::expect_error([&] { ds->load("1000", {"depth"}); }, {"depth/1000.npy", "depth stored as dtype '<i4'", "millimetres"});
  npy::write_mat(dir.path() / "depth" / "1000.npy", cv::Mat(12, 16, CV_64F, cv::Scalar(2.5)));
  EXPECT_FLOAT_EQ(ds->load("1000", {"depth"}).labels.at("depth").at<float>(3, 3), 2.5f);  // float64 is fine
  npy::write_mat(dir.path() / "normals" / "1000.npy", cv::Mat(12, 16, CV_8UC3, cv::Scalar(0, 0, 1)));
  test::expect_error([&] { ds->load("1000", {"normals"}); }, {"normals/1000.npy", "normals stored as dtype '|u1'"});
  // info --check reports it as a bad sample.
  DatasetReport r = describe(*ds, true, 1);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find("dtype"), std::string::npos) << r.problems[0];
}

TEST(NyudReader, AnIdListedTwiceInASplitIsAnError) {
  test::TempDir dir;
  test::write_nyud_fixture(dir.path(), 3, 1);
  std::string train = read_file(dir.path() / "gt_sets" / "train.txt");
  std::ofstream(dir.path() / "gt_sets" / "train.txt") << train << "\n" << "1001\n";
  auto ds = open_dataset(dir.path());
  test::expect_error([&] { ds->ids("train"); }, {"gt_sets/train.txt", "'1001'", "listed twice", "lines 2 and"});
  DatasetReport r = describe(*ds, false, 1);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find("listed twice"), std::string::npos);
}

TEST(NyudReader, MissingLabelsAreAllowedOnlyWhenTheDatasetSaysSo) {
  test::TempDir dir;
  test::write_nyud_fixture(dir.path(), 2, 1);
  fs::remove(dir.path() / "depth" / "1001.npy");
  test::expect_error([&] { open_dataset(dir.path())->load("1001"); }, {"depth/1001.npy", "not found"});
  std::ofstream(dir.path() / "meta.json") << R"({"allow_missing_labels": true})";
  Sample s = open_dataset(dir.path())->load("1001");
  EXPECT_FALSE(s.has("depth"));
  EXPECT_TRUE(s.has("semseg"));
}

TEST(NyudReader, PerTaskListsSayWhichImagesAreLabelledForATask) {
  test::TempDir dir;
  test::write_nyud_fixture(dir.path(), 3, 2);
  fs::create_directories(dir.path() / "gt_sets" / "labelled");
  // depth: labelled on 1000 and one validation image only; the unlisted ids' files are not read.
  std::vector<std::string> val = open_dataset(dir.path())->ids("val");
  std::ofstream(dir.path() / "gt_sets" / "labelled" / "depth.txt") << "1000\n" << val[0] << "\n";
  fs::remove(dir.path() / "depth" / "1001.npy");
  std::ofstream(dir.path() / "depth" / "1002.npy") << "not an npy file";
  auto ds = open_dataset(dir.path());
  EXPECT_TRUE(ds->load("1000").has("depth"));
  EXPECT_FALSE(ds->load("1001").has("depth"));
  EXPECT_FALSE(ds->load("1002").has("depth"));
  EXPECT_TRUE(ds->load("1002").has("semseg"));
  EXPECT_TRUE(ds->labelled("1000", "depth"));
  EXPECT_FALSE(ds->labelled("1001", "depth"));
  EXPECT_TRUE(ds->labelled("1001", "semseg"));
  // info reports the coverage per split and task.
  DatasetReport r = describe(*ds, true, 1);
  EXPECT_EQ(r.json["labelled"]["train"]["depth"].get<int>(), 1);
  EXPECT_EQ(r.json["labelled"]["val"]["depth"].get<int>(), 1);
  EXPECT_EQ(r.json["labelled"]["train"]["semseg"].get<int>(), 3);
  EXPECT_NE(r.text.find("depth 1/3 (33.3%)"), std::string::npos) << r.text;
  EXPECT_TRUE(r.problems.empty()) << r.problems.front();
  // A listed id must have its file.
  std::ofstream(dir.path() / "gt_sets" / "labelled" / "depth.txt") << "1001\n";
  test::expect_error([&] { open_dataset(dir.path())->load("1001"); }, {"depth/1001.npy", "not found"});
  // An id that no split lists.
  std::ofstream(dir.path() / "gt_sets" / "labelled" / "depth.txt") << "1000\n9999\n";
  test::expect_error([&] { open_dataset(dir.path()); }, {"gt_sets/labelled/depth.txt", "'9999'", "in no split list"});
  std::ofstream(dir.path() / "gt_sets" / "labelled" / "depth.txt") << "1000\n";
  // A list for a task the dataset does not have.
  std::ofstream(dir.path() / "gt_sets" / "labelled" / "sal.txt") << "1000\n";
  test::expect_error([&] { open_dataset(dir.path()); }, {"gt_sets/labelled/sal.txt", "no such task"});
}

TEST(PascalReader, ReadsLabelsGroupsPartsMasksNormalsAndDerivesEdges) {
  test::TempDir dir;
  const int h = 10, w = 14;
  test::write_pascal_fixture(dir.path(), h, w);
  auto ds = open_dataset(dir.path());
  EXPECT_EQ(ds->info().format, Format::PASCAL);
  EXPECT_EQ(ds->info().tasks, (std::vector<std::string>{"semseg", "human_parts", "sal", "normals", "edge"}));
  EXPECT_EQ(ds->info().class_names.size(), 21u);
  EXPECT_DOUBLE_EQ(ds->info().edge_max_dist, 0.0075);
  Sample s = ds->load("2008_000001");
  const cv::Mat& seg = s.labels.at("semseg");
  EXPECT_EQ(seg.at<float>(0, 0), 15.0f);
  EXPECT_EQ(seg.at<float>(h - 1, w - 1), 255.0f);
  const cv::Mat& parts = s.labels.at("human_parts");
  EXPECT_EQ(parts.at<float>(0, 0), 1.0f);   // head
  EXPECT_EQ(parts.at<float>(2, 0), 2.0f);   // neck, written after head -> torso group
  EXPECT_EQ(parts.at<float>(4, 3), 2.0f);   // torso
  EXPECT_EQ(parts.at<float>(8, 1), 6.0f);   // lfoot -> lower leg
  EXPECT_EQ(parts.at<float>(4, w - 1), 0.0f);
  const cv::Mat& sal = s.labels.at("sal");
  EXPECT_EQ(sal.at<float>(5, 0), 1.0f);
  EXPECT_EQ(sal.at<float>(5, w - 1), 0.0f);
  const cv::Mat& n = s.labels.at("normals");
  EXPECT_NEAR(n.at<cv::Vec3f>(5, 1)[2], 1.0f, 1e-6);       // person (284): kept
  EXPECT_NEAR(n.at<cv::Vec3f>(1, 1)[2], 1.0f, 1e-6);       // wall (440): kept
  EXPECT_EQ(n.at<cv::Vec3f>(5, w - 1), cv::Vec3f(0, 0, 0)); // class 2: zeroed (invalid)
  EXPECT_NEAR(n.at<cv::Vec3f>(5, 1)[0], 2 * 128 / 255.0 - 1, 1e-6);
  // Edges: the Laplacian marks both sides of each label change, thinning keeps one-pixel lines.
  const cv::Mat& e = s.labels.at("edge");
  int on_column_change = 0;
  for (int y = 4; y < h; ++y) on_column_change += e.at<float>(y, w / 2 - 1) + e.at<float>(y, w / 2) > 0;
  EXPECT_EQ(on_column_change, h - 4);
  EXPECT_EQ(e.at<float>(8, 2), 0.0f);
  // The person-less image has no parts file: an all-background map.
  Sample s2 = ds->load("2008_000002", {"human_parts"});
  EXPECT_EQ(cv::countNonZero(s2.labels.at("human_parts")), 0);
  EXPECT_EQ(s2.labels.at("human_parts").size(), cv::Size(w, h));
}

TEST(PascalReader, MatWithoutTheExpectedVariableIsNamed) {
  test::TempDir dir;
  test::write_pascal_fixture(dir.path());
  matfile::write(dir.path() / "pascal-context" / "trainval" / "2008_000001.mat",
                 {{"Labels", matfile::Value::numeric(cv::Mat::zeros(10, 14, CV_16U))}});
  auto ds = open_dataset(dir.path());
  test::expect_error([&] { ds->load("2008_000001", {"edge"}); }, {"2008_000001.mat", "no variable 'LabelMap'", "Labels"});
  // A parts file whose struct lacks the 'objects' field.
  matfile::write(dir.path() / "human_parts" / "2008_000001.mat",
                 {{"anno", matfile::Value::structure({"imname"}, {{matfile::Value::string("x")}})}});
  test::expect_error([&] { ds->load("2008_000001", {"human_parts"}); }, {"human_parts/2008_000001.mat", "no field 'objects'"});
}

TEST(MtanReader, ReadsNpyLayoutAndMapsIgnore) {
  test::TempDir dir;
  test::write_mtan_fixture(dir.path());
  auto ds = open_dataset(dir.path());
  EXPECT_EQ(ds->info().format, Format::MTAN);
  EXPECT_EQ(ds->info().tasks, (std::vector<std::string>{"semseg", "normals", "depth"}));
  EXPECT_EQ(ds->info().class_names.size(), 13u);
  auto ids = ds->ids("val");
  ASSERT_EQ(ids, (std::vector<std::string>{"val/0", "val/1"}));
  Sample s = ds->load(ids[1]);
  EXPECT_FLOAT_EQ(s.image.at<cv::Vec3f>(2, 2)[1], 0.25f * 255);  // [0, 1] images scaled to 0..255
  EXPECT_EQ(s.labels.at("semseg").at<float>(0, 3), 255.0f);     // -1 -> ignore
  EXPECT_EQ(s.labels.at("semseg").at<float>(1, 3), 3.0f);
  EXPECT_FLOAT_EQ(s.labels.at("depth").at<float>(1, 1), 2.5f);  // H x W x 1 accepted
  npy::write_mat(dir.path() / "val" / "label" / "1.npy", cv::Mat(8, 12, CV_32FC3, cv::Scalar::all(0)));
  test::expect_error([&] { ds->load("val/1", {"semseg"}); }, {"val/label/1.npy", "(H, W)"});
}

TEST(Formats, DetectionAndUnknownLayouts) {
  test::TempDir dir;
  test::expect_error([&] { open_dataset(dir.path() / "nothing"); }, {"dataset folder not found"});
  test::expect_error([&] { open_dataset(dir.path()); }, {"cannot tell the dataset format", "--format"});
  EXPECT_THROW(parse_format("coco"), UsageError);
}

TEST(DatasetCheck, ListsEveryBadSample) {
  test::TempDir dir;
  test::write_nyud_fixture(dir.path(), 4, 2);
  auto ds = open_dataset(dir.path());
  EXPECT_TRUE(describe(*ds, true, 2).problems.empty());
  std::ofstream(dir.path() / "images" / "1001.jpg", std::ios::binary) << "garbage";
  fs::remove(dir.path() / "edge" / "1004.npy");
  DatasetReport r = describe(*ds, true, 2);
  ASSERT_EQ(r.problems.size(), 2u);
  EXPECT_NE(r.problems[0].find("1001"), std::string::npos);
  EXPECT_NE(r.problems[1].find("edge/1004.npy"), std::string::npos);
  EXPECT_NE(r.text.find("2 problem(s)"), std::string::npos);
}

}  // namespace densemtl::data
