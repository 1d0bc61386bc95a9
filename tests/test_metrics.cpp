// Metrics (the survey's code's offline evaluators) against values computed by hand, including
// ignore pixels, empty classes and
// images whose ground truth is all invalid.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "densemtl/core/error.h"
#include "densemtl/tasks/metric.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::tasks {

namespace {
cv::Mat u8(std::vector<int> v, int rows) {
  cv::Mat m(rows, static_cast<int>(v.size()) / rows, CV_8U);
  for (std::size_t i = 0; i < v.size(); ++i) m.at<std::uint8_t>(static_cast<int>(i / static_cast<std::size_t>(m.cols)), static_cast<int>(i % static_cast<std::size_t>(m.cols))) = static_cast<std::uint8_t>(v[i]);
  return m;
}
cv::Mat f32(std::vector<float> v, int rows) {
  cv::Mat m(rows, static_cast<int>(v.size()) / rows, CV_32F);
  for (std::size_t i = 0; i < v.size(); ++i) m.at<float>(static_cast<int>(i / static_cast<std::size_t>(m.cols)), static_cast<int>(i % static_cast<std::size_t>(m.cols))) = v[i];
  return m;
}
}  // namespace

TEST(Metrics, MiouWithIgnoreAndEmptyClasses) {
  std::vector<std::string> names = {"a", "b"};
  auto m = make_miou_metric(names);
  // pred 0 0 1 1 / gt 0 1 1 ignore: class a TP 1 FP 1 -> 1/2; class b TP 1 FN 1 -> 1/2.
  m->update(u8({0, 0, 1, 1}, 1), f32({0, 1, 1, 255}, 1));
  OrderedJson r = m->result();
  EXPECT_NEAR(r["mIoU"].get<double>(), 50.0, 1e-9);
  EXPECT_NEAR(r["per_class_IoU"]["b"].get<double>(), 50.0, 1e-9);
  // A class that never occurs (nor is predicted) counts as 0, as in the reference.
  names = {"a", "b", "c"};
  auto m3 = make_miou_metric(names);
  m3->update(u8({0, 0, 1, 1}, 1), f32({0, 1, 1, 255}, 1));
  EXPECT_NEAR(m3->result()["mIoU"].get<double>(), 100.0 / 3, 1e-3);
  // Pooled over images, not averaged per image.
  auto pooled = make_miou_metric(names);
  pooled->update(u8({0, 0}, 1), f32({0, 0}, 1));
  pooled->update(u8({0, 1}, 1), f32({1, 1}, 1));
  // a: TP 2, FP 1 -> 2/3; b: TP 1, FN 1 -> 1/2; c: 0.
  EXPECT_NEAR(pooled->result()["mIoU"].get<double>(), 100.0 * (2.0 / 3 + 0.5) / 3, 1e-3);
}

TEST(Metrics, HumanPartsSkipImagesWithoutParts) {
  data::DatasetInfo info;
  info.part_names = {"background", "head"};
  auto m = get("human_parts").make_metric({info, 0});
  m->update(u8({1, 1}, 1), f32({0, 0}, 1));      // all background: skipped
  m->update(u8({1, 1}, 1), f32({255, 255}, 1));  // all ignore: skipped
  EXPECT_EQ(m->images(), 0u);
  m->update(u8({1, 0}, 1), f32({1, 0}, 1));
  EXPECT_EQ(m->images(), 1u);
  EXPECT_NEAR(m->result()["mIoU"].get<double>(), 100.0, 1e-9);
}

TEST(Metrics, SaliencyMaxFAndMiouOverThresholds) {
  auto perfect = make_saliency_metric();
  // p = 1, 0, 0.502, 0.2 (0.2 is not > 0.2) against 1 0 1 0: perfect at tau = 0.2.
  perfect->update(u8({255, 0, 128, 51}, 1), f32({1, 0, 1, 0}, 1));
  EXPECT_NEAR(perfect->result()["maxF"].get<double>(), 100.0, 1e-6);
  EXPECT_NEAR(perfect->result()["mIoU"].get<double>(), 100.0, 1e-6);
  auto all_on = make_saliency_metric();
  // Everything predicted salient, one of four pixels is: J = 1/4, P = 1/4, R = 1, F = 0.4.
  all_on->update(u8({255, 255, 255, 255}, 1), f32({1, 0, 0, 0}, 1));
  EXPECT_NEAR(all_on->result()["maxF"].get<double>(), 40.0, 1e-6);
  EXPECT_NEAR(all_on->result()["mIoU"].get<double>(), 25.0, 1e-6);
  // An image with no salient pixel and no prediction has Jaccard 1.
  auto empty = make_saliency_metric();
  empty->update(u8({0, 0}, 1), f32({0, 0}, 1));
  EXPECT_NEAR(empty->result()["mIoU"].get<double>(), 100.0, 1e-6);
}

TEST(Metrics, NormalsAnglesPooledOverValidPixels) {
  auto m = make_normals_metric();
  cv::Mat pred(1, 4, CV_8UC3), gt(1, 4, CV_32FC3);
  // Errors: the decode of (255, 128, 128) against x; of (128, 255, 128) against x; an exact 90.
  pred.at<cv::Vec3b>(0, 0) = cv::Vec3b(255, 128, 128);
  pred.at<cv::Vec3b>(0, 1) = cv::Vec3b(128, 255, 128);
  pred.at<cv::Vec3b>(0, 2) = cv::Vec3b(128, 128, 255);
  pred.at<cv::Vec3b>(0, 3) = cv::Vec3b(0, 0, 0);
  for (int i = 0; i < 3; ++i) gt.at<cv::Vec3f>(0, i) = cv::Vec3f(1, 0, 0);
  gt.at<cv::Vec3f>(0, 3) = cv::Vec3f(0, 0, 0);  // invalid
  m->update(pred, gt);
  auto angle = [](double x, double y, double z) {
    double qx = 2 * x / 255 - 1, qy = 2 * y / 255 - 1, qz = 2 * z / 255 - 1;
    return std::acos(qx / std::sqrt(qx * qx + qy * qy + qz * qz)) * 180 / M_PI;
  };
  double a = angle(255, 128, 128), b = angle(128, 255, 128), c = angle(128, 128, 255);
  OrderedJson r = m->result();
  EXPECT_EQ(r["pixels"].get<int>(), 3);
  EXPECT_NEAR(r["mean"].get<double>(), (a + b + c) / 3, 1e-3);
  EXPECT_NEAR(r["median"].get<double>(), std::max(std::min(b, c), std::min(std::max(b, c), a)), 2 * kAngleBin);
  EXPECT_NEAR(r["rmse"].get<double>(), std::sqrt((a * a + b * b + c * c) / 3), 1e-3);
  EXPECT_NEAR(r["11.25"].get<double>(), 100.0 / 3, 1e-3);
  EXPECT_NEAR(r["30"].get<double>(), 100.0 / 3, 1e-3);
  // An image whose ground truth is all invalid adds nothing.
  m->update(pred, cv::Mat::zeros(1, 4, CV_32FC3));
  EXPECT_EQ(m->result()["pixels"].get<int>(), 3);
  EXPECT_EQ(m->images(), 1u);
}

TEST(Metrics, NormalsMedianOfAnEvenCountIsTheMiddleMean) {
  auto m = make_normals_metric();
  cv::Mat pred(1, 2, CV_8UC3), gt(1, 2, CV_32FC3, cv::Scalar(1, 0, 0));
  pred.at<cv::Vec3b>(0, 0) = cv::Vec3b(255, 128, 128);
  pred.at<cv::Vec3b>(0, 1) = cv::Vec3b(128, 128, 255);
  m->update(pred, gt);
  double mean = m->result()["mean"].get<double>();
  EXPECT_NEAR(m->result()["median"].get<double>(), mean, 2 * kAngleBin);
}

TEST(Metrics, DepthRmseAndLogRmsePooledOverValidPixels) {
  auto m = make_depth_metric();
  m->update(f32({1, 5, 4}, 1), f32({2, 0, 4}, 1));
  OrderedJson r = m->result();
  EXPECT_NEAR(r["rmse"].get<double>(), std::sqrt(0.5), 1e-6);
  EXPECT_NEAR(r["log_rmse"].get<double>(), std::log(2.0) / std::sqrt(2.0), 1e-6);
  auto clamp = make_depth_metric();
  clamp->update(f32({-1}, 1), f32({1}, 1));
  EXPECT_NEAR(clamp->result()["log_rmse"].get<double>(), -std::log(1e-9), 1e-4);
  // All-invalid ground truth: nothing counted.
  auto none = make_depth_metric();
  none->update(f32({1, 2}, 1), f32({0, 0}, 1));
  EXPECT_EQ(none->images(), 0u);
}

TEST(Metrics, PredictedClassBeyondTheClassCountIsAnError) {
  // Counted as a plain miss it would lower IoU without a word; even on ignored pixels it is wrong.
  std::vector<std::string> names = {"a", "b"};
  auto m = make_miou_metric(names);
  try {
    m->update(u8({0, 2, 1, 1}, 1), f32({0, 1, 1, 1}, 1));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("predicted class 2 out of range (2 classes)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(m->update(u8({0, 7}, 1), f32({0, 255}, 1)), Error);
}

TEST(Metrics, SizeMismatchIsAnError) {
  auto m = make_depth_metric();
  EXPECT_THROW(m->update(f32({1, 2}, 1), f32({1, 2, 3}, 1)), Error);
}

}  // namespace densemtl::tasks

namespace densemtl::tasks {

TEST(Metrics, MergedShardsReportWhatOneAccumulatorOfEveryImageReports) {
  // Six random images per metric; shard A gets four, shard B two; B's state merged into A must
  // give the pooled result (sharded evaluation over processes).
  cv::RNG rng(3);
  auto classes = [&](int n) {
    cv::Mat m(9, 11, CV_8U);
    rng.fill(m, cv::RNG::UNIFORM, 0, n);
    return m;
  };
  auto with_ignore = [&](cv::Mat m) {
    cv::Mat f;
    m.convertTo(f, CV_32F);
    for (int i = 0; i < 8; ++i) f.at<float>(rng.uniform(0, f.rows), rng.uniform(0, f.cols)) = 255;
    return f;
  };
  struct Case {
    std::string name;
    std::function<std::unique_ptr<Metric>()> make;
    std::function<std::pair<cv::Mat, cv::Mat>()> image;
  };
  std::vector<Case> cases = {
      {"miou", [] { return make_miou_metric({"a", "b", "c", "d"}); }, [&] { return std::make_pair(classes(4), with_ignore(classes(4))); }},
      {"saliency", [] { return make_saliency_metric(); },
       [&] {
         cv::Mat g;
         classes(2).convertTo(g, CV_32F);
         return std::make_pair(classes(256), g);
       }},
      {"normals", [] { return make_normals_metric(); },
       [&] {
         cv::Mat p(9, 11, CV_8UC3), g(9, 11, CV_32FC3);
         rng.fill(p, cv::RNG::UNIFORM, 0, 256);
         rng.fill(g, cv::RNG::UNIFORM, -1.0, 1.0);
         g.at<cv::Vec3f>(0, 0) = cv::Vec3f(0, 0, 0);  // invalid
         return std::make_pair(p, g);
       }},
      {"depth", [] { return make_depth_metric(); },
       [&] {
         cv::Mat p(9, 11, CV_32F), g(9, 11, CV_32F);
         rng.fill(p, cv::RNG::UNIFORM, 0.5, 5.0);
         rng.fill(g, cv::RNG::UNIFORM, 0.5, 5.0);
         g.at<float>(1, 1) = 0;  // invalid
         return std::make_pair(p, g);
       }},
      {"boundary", [] { return make_boundary_metric({0.011, 9, 1}); },
       [&] {
         cv::Mat g = classes(8) == 0;
         g.convertTo(g, CV_32F, 1.0 / 255);
         return std::make_pair(classes(256), g);
       }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto whole = c.make(), a = c.make(), b = c.make();
    for (int i = 0; i < 6; ++i) {
      auto [p, g] = c.image();
      whole->update(p, g);
      (i < 4 ? a : b)->update(p, g);
    }
    ASSERT_NE(a->result(), whole->result());  // the shards alone differ
    a->merge(b->state());
    EXPECT_EQ(a->result(), whole->result());
    EXPECT_EQ(a->images(), 6u);
    // Without a multi-process group there is nothing to merge.
    merge_over_processes(*a);
    EXPECT_EQ(a->result(), whole->result());
  }
}

}  // namespace densemtl::tasks
