// Data pipeline properties (the survey's code's transforms).
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include <cmath>
#include <set>

#include "densemtl/core/rng.h"
#include "densemtl/data/pipeline.h"
#include "densemtl/data/synthetic/generator.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::data {

namespace {

// A raw sample rendered by the procedural generator (all six tasks).
Sample scene_sample(int index, int h = 48, int w = 64) {
  synthetic::GenerateOptions o;
  o.height = h;
  o.width = w;
  o.seed = 9;
  synthetic::Rendering r = synthetic::render_sample(o, 0, index);
  Sample s;
  s.id = "s" + std::to_string(index);
  r.rgb.convertTo(s.image, CV_32FC3);
  r.semseg.convertTo(s.labels["semseg"], CV_32F);
  r.parts.convertTo(s.labels["human_parts"], CV_32F);
  s.labels["depth"] = r.depth.clone();
  s.labels["normals"] = r.normals.clone();
  cv::Mat sal = cv::Mat::zeros(r.semseg.size(), CV_32F);
  for (int y = 0; y < sal.rows; ++y)
    for (int x = 0; x < sal.cols; ++x) sal.at<float>(y, x) = synthetic::is_foreground(r.semseg.at<std::uint8_t>(y, x));
  s.labels["sal"] = sal;
  return s;
}

double max_diff(const cv::Mat& a, const cv::Mat& b) { return cv::norm(a, b, cv::NORM_INF); }

std::set<float> values(const cv::Mat& m) {
  std::set<float> v;
  for (int y = 0; y < m.rows; ++y)
    for (int x = 0; x < m.cols; ++x) v.insert(m.at<float>(y, x));
  return v;
}

}  // namespace

TEST(Pipeline, FlippingTwiceIsTheIdentityAndNegatesNormalX) {
  Sample s = scene_sample(0), f = scene_sample(0);
  hflip(f);
  const cv::Mat& n0 = s.labels.at("normals");
  const cv::Mat& n1 = f.labels.at("normals");
  EXPECT_FLOAT_EQ(n1.at<cv::Vec3f>(5, 0)[0], -n0.at<cv::Vec3f>(5, n0.cols - 1)[0]);
  EXPECT_FLOAT_EQ(n1.at<cv::Vec3f>(5, 0)[1], n0.at<cv::Vec3f>(5, n0.cols - 1)[1]);
  hflip(f);
  EXPECT_EQ(max_diff(s.image, f.image), 0.0);
  for (const auto& [task, label] : s.labels) EXPECT_EQ(max_diff(label, f.labels.at(task)), 0.0) << task;
}

TEST(Pipeline, RotatedNormalsStayUnitLength) {
  for (double deg : {-20.0, -7.5, 13.0, 20.0}) {
    Sample s = scene_sample(1);
    scale_rotate(s, deg, 1.1, false);
    resize_to(s, s.image.size());
    const cv::Mat& n = s.labels.at("normals");
    for (int y = 0; y < n.rows; ++y)
      for (int x = 0; x < n.cols; ++x) {
        cv::Vec3f v = n.at<cv::Vec3f>(y, x);
        float len = std::sqrt(v.dot(v));
        ASSERT_TRUE(len == 0.0f || std::fabs(len - 1.0f) < 1e-4) << len << " at " << x << "," << y;
      }
  }
}

TEST(Pipeline, NormalsTurnWithTheImage) {
  // A dome: normals point away from the centre in the image plane (in the frame with y up).
  // Rotating the image about its centre must leave the field a dome: at every pixel the rotated
  // normal still points away from the centre.
  const int h = 41, w = 41;
  Sample s;
  s.image = cv::Mat(h, w, CV_32FC3, cv::Scalar::all(100));
  cv::Mat n(h, w, CV_32FC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double dx = x + 0.5 - w / 2.0, dy = -(y + 0.5 - h / 2.0);  // y up
      double r = std::hypot(dx, dy) + 1e-9;
      cv::Vec3d v(0.6 * dx / r, 0.6 * dy / r, 0.8);
      n.at<cv::Vec3f>(y, x) = cv::Vec3f(static_cast<float>(v[0]), static_cast<float>(v[1]), static_cast<float>(v[2]));
    }
  s.labels["normals"] = n;
  scale_rotate(s, 30.0, 1.0, /*normals_y_down=*/false);
  const cv::Mat& out = s.labels.at("normals");
  int checked = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double dx = x + 0.5 - w / 2.0, dy = -(y + 0.5 - h / 2.0);
      double r = std::hypot(dx, dy);
      if (r < 4 || r > 15) continue;
      cv::Vec3f v = out.at<cv::Vec3f>(y, x);
      double cosang = (v[0] * dx + v[1] * dy) / (r * std::hypot(v[0], v[1]));
      EXPECT_GT(cosang, 0.97) << "at " << x << "," << y;
      ++checked;
    }
  EXPECT_GT(checked, 300);
}

TEST(Pipeline, NearestResizingNeverInventsALabel) {
  Sample s = scene_sample(2);
  auto before_sem = values(s.labels.at("semseg")), before_parts = values(s.labels.at("human_parts"));
  resize_to(s, cv::Size(97, 71));
  scale_rotate(s, 17.0, 1.3, false);
  before_sem.insert(0.0f);  // padding
  for (float v : values(s.labels.at("semseg"))) EXPECT_TRUE(before_sem.count(v)) << v;
  for (float v : values(s.labels.at("human_parts"))) EXPECT_TRUE(before_parts.count(v) || v == 0.0f) << v;
  for (float v : values(s.labels.at("sal"))) EXPECT_TRUE(v == 0.0f || v == 1.0f) << v;
}

TEST(Pipeline, DepthScalesWithZoom) {
  Sample s = scene_sample(3, 60, 80);
  s.labels.at("depth").setTo(2.0f);
  Sample z = s;
  z.labels["depth"] = s.labels.at("depth").clone();
  scale_rotate(z, 0.0, 1.5, false);
  // Zooming in by 1.5 brings the scene 1.5x closer; the centre pixel stays the centre.
  EXPECT_FLOAT_EQ(z.labels.at("depth").at<float>(30, 40), 2.0f / 1.5f);
  // Zooming out pads with 0 = invalid depth at the border.
  Sample o = s;
  o.labels["depth"] = s.labels.at("depth").clone();
  scale_rotate(o, 0.0, 0.75, false);
  EXPECT_EQ(o.labels.at("depth").at<float>(0, 0), 0.0f);
  EXPECT_FLOAT_EQ(o.labels.at("depth").at<float>(30, 40), 2.0f / 0.75f);
}

TEST(Pipeline, IgnoreRegionsAndNormalisation) {
  Sample s = scene_sample(4);
  s.labels.at("human_parts").setTo(0.0f);
  s.labels.at("depth").at<float>(1, 1) = 0.0f;
  s.labels.at("normals").at<cv::Vec3f>(2, 2) = cv::Vec3f(0, 0, 0);
  add_ignore_regions(s);
  EXPECT_EQ(s.labels.at("depth").at<float>(1, 1), 255.0f);
  EXPECT_EQ(s.labels.at("normals").at<cv::Vec3f>(2, 2), cv::Vec3f(255, 255, 255));
  EXPECT_EQ(cv::countNonZero(s.labels.at("human_parts") != 255.0f), 0);
  PipelineOptions o;
  cv::Mat img(1, 2, CV_32FC3);
  img.at<cv::Vec3f>(0, 0) = cv::Vec3f(255.9f, 0.0f, 300.0f);   // truncation and saturation
  img.at<cv::Vec3f>(0, 1) = cv::Vec3f(-4.0f, 128.0f, 127.6f);
  cv::Mat n = normalize_image(img, o);
  EXPECT_NEAR(n.at<cv::Vec3f>(0, 0)[0], (1.0f - 0.485f) / 0.229f, 1e-5);
  EXPECT_NEAR(n.at<cv::Vec3f>(0, 0)[2], (1.0f - 0.406f) / 0.225f, 1e-5);
  EXPECT_NEAR(n.at<cv::Vec3f>(0, 1)[0], (0.0f - 0.485f) / 0.229f, 1e-5);
  EXPECT_NEAR(n.at<cv::Vec3f>(0, 1)[2], (127.0f / 255 - 0.406f) / 0.225f, 1e-5);
}

TEST(Pipeline, SameRngSameAugmentationAndEvalPipelineIsDeterministic) {
  PipelineOptions o;
  o.size = cv::Size(40, 30);
  o.augment.flip = true;
  o.augment.scale_min = 0.75;
  o.augment.scale_max = 1.25;
  o.augment.rotation = 20;
  o.normals_y_down = false;
  Pipeline train(o, true), eval(o, false);
  Rng a(5), b(5);
  Sample x = train(scene_sample(5), a), y = train(scene_sample(5), b);
  EXPECT_EQ(max_diff(x.image, y.image), 0.0);
  EXPECT_EQ(x.image.size(), cv::Size(40, 30));
  for (const auto& [task, label] : x.labels) {
    EXPECT_EQ(max_diff(label, y.labels.at(task)), 0.0) << task;
    EXPECT_EQ(label.size(), cv::Size(40, 30)) << task;
  }
  Rng c(1), d(2);
  Sample e1 = eval(scene_sample(5), c), e2 = eval(scene_sample(5), d);
  EXPECT_EQ(max_diff(e1.image, e2.image), 0.0);  // no randomness at evaluation
}

}  // namespace densemtl::data
