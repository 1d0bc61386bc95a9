// The task registry.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "densemtl/data/readers/readers.h"
#include "densemtl/tasks/colour.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/vision/io/image.h"
#include "test_util.h"

namespace densemtl::tasks {

TEST(Tasks, CanonicalOrderAndLookup) {
  EXPECT_EQ(names(), (std::vector<std::string>{"semseg", "human_parts", "sal", "normals", "edge", "depth"}));
  EXPECT_EQ(canonical({"depth", "semseg", "edge", "depth"}), (std::vector<std::string>{"semseg", "edge", "depth"}));
  test::expect_error([] { get("segmentation"); }, {"unknown task 'segmentation'", "known tasks"});
  test::expect_error([] { get("dpeth"); }, {"did you mean 'depth'"});
}

TEST(Tasks, OutputChannelsFollowTheDataset) {
  data::DatasetInfo nyud, pascal;
  nyud.class_names = data::nyu40_class_names();
  pascal.class_names = data::voc_class_names();
  pascal.part_names = data::pascal_part_names();
  EXPECT_EQ(get("semseg").output_channels(nyud), 40);
  EXPECT_EQ(get("semseg").output_channels(pascal), 21);
  EXPECT_EQ(get("human_parts").output_channels(pascal), 7);
  EXPECT_EQ(get("normals").output_channels(pascal), 3);
  for (const char* t : {"sal", "edge", "depth"}) EXPECT_EQ(get(t).output_channels(pascal), 1);
}

TEST(Tasks, InterpolationTablesMatchTheReference) {
  EXPECT_EQ(get("semseg").train_interpolation(), cv::INTER_NEAREST);
  EXPECT_EQ(get("normals").train_interpolation(), cv::INTER_CUBIC);
  EXPECT_EQ(get("depth").train_interpolation(), cv::INTER_NEAREST);
  EXPECT_EQ(get("sal").infer_interpolation(), cv::INTER_LINEAR);
  EXPECT_EQ(get("edge").infer_interpolation(), cv::INTER_LINEAR);
  EXPECT_EQ(get("human_parts").infer_interpolation(), cv::INTER_NEAREST);
}

TEST(Tasks, IgnoreRules) {
  cv::Mat depth = (cv::Mat_<float>(1, 3) << 0.0f, 2.0f, 0.0f);
  get("depth").mark_ignore(depth);
  EXPECT_EQ(depth.at<float>(0, 0), 255.0f);
  EXPECT_EQ(depth.at<float>(0, 1), 2.0f);
  cv::Mat parts = cv::Mat::zeros(2, 2, CV_32F);
  get("human_parts").mark_ignore(parts);
  EXPECT_EQ(cv::countNonZero(parts == 255.0f), 4);  // no person: no supervision at all
  cv::Mat some = cv::Mat::zeros(2, 2, CV_32F);
  some.at<float>(0, 0) = 3;
  get("human_parts").mark_ignore(some);
  EXPECT_EQ(some.at<float>(1, 1), 0.0f);
  cv::Mat normals(1, 2, CV_32FC3, cv::Scalar(0, 0, 0));
  normals.at<cv::Vec3f>(0, 1) = cv::Vec3f(0, 0, 1);
  get("normals").mark_ignore(normals);
  EXPECT_EQ(normals.at<cv::Vec3f>(0, 0), cv::Vec3f(255, 255, 255));
  EXPECT_EQ(normals.at<cv::Vec3f>(0, 1), cv::Vec3f(0, 0, 1));
}

TEST(Tasks, PredictionFilesOfTheWrongKindAreErrorsNamingTheFile) {
  // Normals: 8-bit RGB only (a greyscale or 16-bit PNG would be converted silently); segmentation:
  // 8-bit single channel.
  test::TempDir dir;
  cv::Mat rgb(4, 5, CV_8UC3, cv::Scalar(10, 128, 250));
  image::write(dir.path() / "ok.png", rgb);
  EXPECT_EQ(get("normals").read_prediction(dir.path() / "ok.png").at<cv::Vec3b>(1, 1), cv::Vec3b(250, 128, 10));  // BGR file -> RGB
  image::write(dir.path() / "grey.png", cv::Mat(4, 5, CV_8U, cv::Scalar(7)));
  test::expect_error([&] { get("normals").read_prediction(dir.path() / "grey.png"); }, {"grey.png", "8-bit RGB", "1 channel(s)"});
  image::write(dir.path() / "deep.png", cv::Mat(4, 5, CV_16UC3, cv::Scalar(1000, 2000, 3000)));
  test::expect_error([&] { get("normals").read_prediction(dir.path() / "deep.png"); }, {"deep.png", "8-bit RGB", "16 bits"});
  image::write(dir.path() / "seg16.png", cv::Mat(4, 5, CV_16U, cv::Scalar(3)));
  test::expect_error([&] { get("semseg").read_prediction(dir.path() / "seg16.png"); }, {"seg16.png", "8-bit"});
}

TEST(Tasks, PicturesHaveTheLabelSize) {
  data::DatasetInfo info;
  info.class_names = {"a", "b"};
  cv::Mat cls = (cv::Mat_<float>(2, 2) << 0, 1, 255, 1);
  cv::Mat pic = get("semseg").draw(cls, info);
  EXPECT_EQ(pic.type(), CV_8UC3);
  EXPECT_EQ(pic.size(), cls.size());
  EXPECT_EQ(pic.at<cv::Vec3b>(1, 0), cv::Vec3b(255, 255, 255));  // ignore drawn white
  auto c1 = palette_colour(1);
  EXPECT_EQ(pic.at<cv::Vec3b>(0, 1), cv::Vec3b(c1[0], c1[1], c1[2]));
  cv::Mat n(1, 1, CV_32FC3, cv::Scalar(1, 0, 0));
  EXPECT_EQ(get("normals").draw(n, info).at<cv::Vec3b>(0, 0), cv::Vec3b(255, 128, 128));
}

}  // namespace densemtl::tasks
