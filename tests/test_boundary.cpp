// Native boundary evaluation: exact BSDS correspondence, counts and ODS/OIS/AP aggregation.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include <cmath>
#include <functional>

#include "boundary_inputs.h"
#include "densemtl/core/rng.h"
#include "densemtl/vision/boundary_match.h"
#include "densemtl/tasks/metric.h"

namespace densemtl::vision::boundary {

namespace {

cv::Mat points(int h, int w, const std::vector<cv::Point>& pts) {
  cv::Mat m = cv::Mat::zeros(h, w, CV_8U);
  for (const auto& p : pts) m.at<std::uint8_t>(p) = 1;
  return m;
}

// Exhaustive minimum of the BSDS cost over all one-to-one matchings (small cases only), with the tie
// rule of the solvers: among matchings of the least cost, the fewest pairs. `outlier` defaults to
// BSDS's (outlierCost 100).
Match brute_force(const std::vector<cv::Point>& pred, const std::vector<cv::Point>& gt, double radius, std::int64_t outlier = -1) {
  if (outlier < 0) outlier = std::llround(100.0 * 100.0 * radius);
  Match best{0, std::numeric_limits<std::int64_t>::max()};
  std::vector<int> used(gt.size(), 0);
  std::function<void(std::size_t, std::int64_t, std::int64_t)> rec = [&](std::size_t i, std::int64_t matches, std::int64_t cost) {
    if (i == pred.size()) {
      std::int64_t total = cost + outlier * static_cast<std::int64_t>(pred.size() + gt.size() - 2 * static_cast<std::size_t>(matches));
      if (total < best.cost || (total == best.cost && matches < best.matches)) best = {matches, total};
      return;
    }
    rec(i + 1, matches, cost);
    for (std::size_t j = 0; j < gt.size(); ++j) {
      if (used[j]) continue;
      double d = std::hypot(pred[i].x - gt[j].x, pred[i].y - gt[j].y);
      if (d > radius) continue;
      used[j] = 1;
      rec(i + 1, matches + 1, cost + std::llround(100.0 * d));
      used[j] = 0;
    }
  };
  rec(0, 0, 0);
  return best;
}

std::vector<cv::Point> nonzero(const cv::Mat& m) {
  std::vector<cv::Point> out;
  for (int y = 0; y < m.rows; ++y)
    for (int x = 0; x < m.cols; ++x)
      if (m.at<std::uint8_t>(y, x)) out.emplace_back(x, y);
  return out;
}

}  // namespace

TEST(BoundaryMatch, IdenticalMapsMatchFully) {
  cv::Mat gt = cv::Mat::zeros(40, 50, CV_8U);
  cv::line(gt, {3, 5}, {45, 30}, cv::Scalar(1));
  cv::circle(gt, {20, 20}, 9, cv::Scalar(1));
  Match m = correspond(gt, gt, 0.011);
  EXPECT_EQ(m.matches, cv::countNonZero(gt));
  EXPECT_EQ(m.cost, 0);
}

TEST(BoundaryMatch, AShiftWithinTheToleranceMatchesBeyondItDoesNot) {
  // 30 x 40 image: diagonal 50; max_dist 0.03 -> radius 1.5 px.
  cv::Mat gt = cv::Mat::zeros(30, 40, CV_8U), near = gt.clone(), far = gt.clone();
  cv::line(gt, {5, 10}, {35, 10}, cv::Scalar(1));
  cv::line(near, {5, 11}, {35, 11}, cv::Scalar(1));
  cv::line(far, {5, 12}, {35, 12}, cv::Scalar(1));
  EXPECT_EQ(correspond(near, gt, 0.03).matches, 31);
  EXPECT_EQ(correspond(near, gt, 0.03).cost, 31 * 100);
  EXPECT_EQ(correspond(far, gt, 0.03).matches, 0);
  EXPECT_EQ(correspond(far, gt, 0.05).matches, 31);  // radius 2.5 px
}

TEST(BoundaryMatch, OptimalWhereGreedyIsNot) {
  // radius 3 (30 x 40, max_dist 0.06). Row 15: p2 at 7, g1 at 10, p1 at 11, g2 at 14.
  // Nearest-first greedy takes p1-g1 (1 px) and strands p2 and g2: one match.
  // The optimum matches p2-g1 and p1-g2 (3 px each): two matches.
  cv::Mat pred = points(30, 40, {{7, 15}, {11, 15}}), gt = points(30, 40, {{10, 15}, {14, 15}});
  Match m = correspond(pred, gt, 0.06);
  EXPECT_EQ(m.matches, 2);
  EXPECT_EQ(m.cost, 600);
  // A chain of such pairs: greedy gets one per link, the optimum all of them.
  std::vector<cv::Point> p, g;
  for (int k = 0; k < 5; ++k) {
    p.push_back({2 + 7 * k, 20});
    g.push_back({5 + 7 * k, 20});
    p.push_back({6 + 7 * k, 21});
    g.push_back({8 + 7 * k, 22});
  }
  Match chain = correspond(points(30, 40, p), points(30, 40, g), 0.06);
  Match brute = brute_force(p, g, 3.0);
  EXPECT_EQ(chain.matches, brute.matches);
  EXPECT_EQ(chain.cost, brute.cost);
}

TEST(BoundaryMatch, ExactOnRandomSmallCasesAgainstExhaustiveSearch) {
  Rng rng(17);
  for (int trial = 0; trial < 300; ++trial) {
    const int h = 12, w = 16;
    const double max_dist = rng.uniform(0.05, 0.2);  // radius 1 to 4 px (diagonal 20)
    std::vector<cv::Point> p, g;
    cv::Mat pm = cv::Mat::zeros(h, w, CV_8U), gm = pm.clone();
    int np = rng.randint(0, 7), ng = rng.randint(0, 7);
    while (static_cast<int>(p.size()) < np) {
      cv::Point q(rng.randint(0, w - 1), rng.randint(0, h - 1));
      if (!pm.at<std::uint8_t>(q)) {
        pm.at<std::uint8_t>(q) = 1;
        p.push_back(q);
      }
    }
    while (static_cast<int>(g.size()) < ng) {
      cv::Point q(rng.randint(0, w - 1), rng.randint(0, h - 1));
      if (!gm.at<std::uint8_t>(q)) {
        gm.at<std::uint8_t>(q) = 1;
        g.push_back(q);
      }
    }
    Match brute = brute_force(p, g, max_dist * 20.0);
    for (Algorithm alg : {Algorithm::Auction, Algorithm::SuccessiveShortestPaths}) {
      Match exact = correspond(pm, gm, max_dist, 100.0, alg);
      ASSERT_EQ(exact.cost, brute.cost) << "trial " << trial;
      ASSERT_EQ(exact.matches, brute.matches) << "trial " << trial;
    }
  }
}

TEST(BoundaryMatch, AuctionAndShortestPathsAgreeOnLargerMaps) {
  // Beyond exhaustive search: the two exact solvers must reach the same optimal cost (and, here,
  // the same number of matches) on contour-like maps with thousands of pixels.
  Rng rng(23);
  for (int trial = 0; trial < 12; ++trial) {
    const int h = 90, w = 120;
    cv::Mat gt = cv::Mat::zeros(h, w, CV_8U), pred = gt.clone();
    for (int k = 0; k < 8; ++k) {
      cv::Point a(rng.randint(0, w - 1), rng.randint(0, h - 1)), b(rng.randint(0, w - 1), rng.randint(0, h - 1));
      cv::line(gt, a, b, cv::Scalar(1));
      cv::Point d(rng.randint(-2, 2), rng.randint(-2, 2));
      if (rng.bernoulli(0.8)) cv::line(pred, a + d, b + d, cv::Scalar(1));
    }
    for (int k = 0; k < 60; ++k) pred.at<std::uint8_t>(rng.randint(0, h - 1), rng.randint(0, w - 1)) = 1;
    double max_dist = rng.uniform(0.01, 0.04);  // radius 1.5 to 6 px
    Match a = correspond(pred, gt, max_dist, 100.0, Algorithm::Auction);
    Match b = correspond(pred, gt, max_dist, 100.0, Algorithm::SuccessiveShortestPaths);
    EXPECT_EQ(a.cost, b.cost) << "trial " << trial;
    EXPECT_EQ(a.matches, b.matches) << "trial " << trial;
    EXPECT_GT(a.matches, 0);
  }
}

TEST(BoundaryMatch, AZeroGainPairIsLeftUnmatchedByEverySolver) {
  // 30 x 40 (diagonal 50), max_dist 0.06: radius 3 px; outlier cost 1/3 of the radius: C = 100.
  // A pair 2 px apart costs 200 = 2C, exactly what leaving both unmatched costs: the optimum is
  // tied, and the solvers keep the fewer pairs (as successive shortest paths stop). 1 px apart
  // (cost 100) the pair is matched.
  cv::Mat gt = points(30, 40, {{10, 15}});
  for (int dx : {1, 2}) {
    cv::Mat pred = points(30, 40, {{10 + dx, 15}});
    const std::int64_t expected = dx == 1 ? 1 : 0;
    EXPECT_EQ(correspond(pred, gt, 0.06, 1.0 / 3).matches, expected) << dx;
    GroundTruth g(gt, 0.06, 1.0 / 3);
    IncrementalMatcher inc(g);
    EXPECT_EQ(inc.update(pred), expected) << dx;
  }
}

TEST(BoundaryMatch, IncrementalEqualsTheOptimumAsTheSetChanges) {
  // Sequences of prediction sets that gain and lose pixels (not nested), against the exhaustive
  // optimum on tiny maps and against the from-scratch solver on contour maps; cheap outliers make
  // ties and unmatched pairs common.
  Rng rng(31);
  for (int trial = 0; trial < 120; ++trial) {
    const int h = 12, w = 16;
    const double max_dist = rng.uniform(0.05, 0.2), outlier_cost = rng.bernoulli(0.5) ? 100.0 : rng.uniform(0.2, 1.5);
    cv::Mat gt = cv::Mat::zeros(h, w, CV_8U), pred = gt.clone();
    for (int k = rng.randint(0, 6); k > 0; --k) gt.at<std::uint8_t>(rng.randint(0, h - 1), rng.randint(0, w - 1)) = 1;
    GroundTruth g(gt, max_dist, outlier_cost);
    const std::int64_t outlier = std::llround(100.0 * outlier_cost * max_dist * 20.0);
    IncrementalMatcher inc(g);
    for (int step = 0; step < 8; ++step) {
      for (int k = rng.randint(1, 4); k > 0; --k) {
        auto& px = pred.at<std::uint8_t>(rng.randint(0, h - 1), rng.randint(0, w - 1));
        px = nonzero(pred).size() < 7 ? 1 - px : 0;
      }
      Match brute = brute_force(nonzero(pred), nonzero(gt), max_dist * 20.0, outlier);
      ASSERT_EQ(inc.update(pred), brute.matches) << "trial " << trial << " step " << step;
      ASSERT_EQ(correspond(pred, gt, max_dist, outlier_cost).matches, brute.matches) << "trial " << trial << " step " << step;
    }
  }
  for (int trial = 0; trial < 10; ++trial) {
    const int h = 90, w = 120;
    cv::Mat gt = cv::Mat::zeros(h, w, CV_8U), pred = gt.clone();
    for (int k = 0; k < 8; ++k)
      cv::line(gt, {rng.randint(0, w - 1), rng.randint(0, h - 1)}, {rng.randint(0, w - 1), rng.randint(0, h - 1)}, cv::Scalar(1));
    const double max_dist = rng.uniform(0.01, 0.05), outlier_cost = trial % 2 ? 100.0 : 0.5;
    GroundTruth g(gt, max_dist, outlier_cost);
    IncrementalMatcher inc(g);
    for (int step = 0; step < 12; ++step) {
      // Shift some strokes, drop some, add clutter, remove clutter.
      cv::Mat next = cv::Mat::zeros(h, w, CV_8U);
      cv::Mat shifted;
      cv::Mat m = (cv::Mat_<double>(2, 3) << 1, 0, rng.randint(-2, 2), 0, 1, rng.randint(-2, 2));
      cv::warpAffine(gt, shifted, m, gt.size(), cv::INTER_NEAREST);
      next |= shifted;
      for (int k = 0; k < 6; ++k) cv::circle(next, {rng.randint(0, w - 1), rng.randint(0, h - 1)}, rng.randint(3, 15), cv::Scalar(0), -1);
      for (int k = 0; k < 40 * step; ++k) next.at<std::uint8_t>(rng.randint(0, h - 1), rng.randint(0, w - 1)) = 1;
      pred = next;
      ASSERT_EQ(inc.update(pred), correspond(pred, gt, max_dist, outlier_cost).matches) << "trial " << trial << " step " << step;
    }
  }
}

TEST(BoundaryCounts, IncrementalEqualsPerThresholdOnNyudSizedPredictions) {
  // 480 x 640 ground truth and predictions of both benchmark profiles, at thresholds from the
  // dense low band (where the thinned map changes most) to the top: every count equal to binarising,
  // thinning and matching each threshold from scratch; the multi-threaded path equal too.
  const std::vector<double> ts = {0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.22, 0.3, 0.45, 0.6, 0.8, 0.95};
  std::int64_t noisy_low_band = -1;  // the noisy profile's predicted pixels at t = 0.07 (-1: never scored)
  for (const std::string profile : {"noisy", "mild"}) {
    test::BoundaryScene scene = test::boundary_scene(profile == "noisy" ? 0 : 1);
    Rng rng(profile == "noisy" ? 5 : 6);
    cv::Mat pred = test::boundary_prediction(profile, scene, rng);
    auto fast = image_counts(pred, scene.gt, ts, 0.011, 1);
    auto exact = image_counts_reference(pred, scene.gt, ts, 0.011);
    auto threaded = image_counts(pred, scene.gt, ts, 0.011, 2);
    for (std::size_t k = 0; k < ts.size(); ++k) {
      EXPECT_EQ(fast[k].cnt_r, exact[k].cnt_r) << profile << " t=" << ts[k];
      EXPECT_EQ(fast[k].sum_p, exact[k].sum_p) << profile << " t=" << ts[k];
      EXPECT_EQ(fast[k].sum_r, exact[k].sum_r) << profile << " t=" << ts[k];
      EXPECT_EQ(threaded[k].cnt_r, exact[k].cnt_r) << profile << " t=" << ts[k];
      EXPECT_EQ(threaded[k].sum_p, exact[k].sum_p) << profile << " t=" << ts[k];
    }
    if (profile == "noisy") noisy_low_band = exact[3].sum_p;
  }
  EXPECT_GT(noisy_low_band, 5000) << "the low band is meant to be dense";
}

TEST(BoundaryCounts, PerfectPredictionAtEveryThreshold) {
  cv::Mat gt = cv::Mat::zeros(48, 64, CV_8U);
  cv::rectangle(gt, {8, 8}, {50, 40}, cv::Scalar(1));
  cv::Mat pred = gt * 255;
  auto ts = thresholds();
  ASSERT_EQ(ts.size(), 99u);
  EXPECT_DOUBLE_EQ(ts.front(), 0.01);
  EXPECT_DOUBLE_EQ(ts.back(), 0.99);
  auto c = image_counts(pred, gt, ts, 0.011, 2);
  for (const auto& x : c) {
    EXPECT_EQ(x.cnt_r, x.sum_r);
    EXPECT_EQ(x.cnt_p, x.sum_p);
    EXPECT_GT(x.sum_p, 0);
  }
  // A thick, soft prediction is thinned at each threshold and still matches within tolerance.
  cv::Mat soft;
  cv::GaussianBlur(gt * 255, soft, {5, 5}, 1.0);
  soft = cv::min(soft * 3, 200);
  auto s = image_counts(soft, gt, ts, 0.011, 2);
  EXPECT_GT(static_cast<double>(s[40].cnt_r) / static_cast<double>(s[40].sum_r), 0.95);
  EXPECT_EQ(s[98].sum_p, 0);  // 0.99 * 255 is above the prediction's maximum (200)
}

TEST(BoundaryAggregation, OdsOisApOnAHandBuiltTable) {
  // Image 1 at t1, t2, t3: (cntR, sumR, cntP, sumP); at t3 nothing is predicted.
  // Image 2 has no ground-truth boundary at all.
  std::vector<std::vector<Counts>> counts = {
      {{8, 10, 8, 16}, {6, 10, 6, 8}, {0, 10, 0, 0}},
      {{0, 0, 0, 5}, {0, 0, 0, 2}, {0, 0, 0, 0}},
  };
  std::vector<double> ts = {0.25, 0.5, 0.75};
  Summary s = aggregate(counts, ts);
  // ODS: t1 R 0.8 P 8/21 (F 0.516); t2 R 0.6 P 0.6 (F 0.6); t3 R 0 P 1 (no prediction).
  EXPECT_NEAR(s.ods_f, 0.6, 1e-12);
  EXPECT_DOUBLE_EQ(s.ods_t, 0.5);
  // OIS: image 1 best at t2 (F 0.667 > 0.615), image 2 F = 0 everywhere (R 1, P 0): its first
  // threshold. Summed: R 6/10, P 6/13.
  double r = 0.6, p = 6.0 / 13;
  EXPECT_NEAR(s.ois_f, 2 * p * r / (p + r), 1e-12);
  // AP: points (R, P) = (0, 1), (0.6, 0.6), (0.8, 8/21), linear in between, sampled at
  // recall 0, 0.01, ..., 0.80 and divided by 100.
  double ap = 0;
  for (int k = 0; k <= 80; ++k) {
    double rr = k / 100.0;
    ap += rr <= 0.6 ? 1.0 - (0.4 / 0.6) * rr : 0.6 + (8.0 / 21 - 0.6) * (rr - 0.6) / 0.2;
  }
  EXPECT_NEAR(s.ap, ap / 100, 1e-9);
}

TEST(BoundaryAggregation, ApKeepsTheFirstThresholdOfEqualRecall) {
  // Thresholds 0.25 and 0.5 give the same recall 0.5 with precisions 0.4 and 0.8; SEISM keeps the
  // first (lowest) threshold's point. Points: (0.5, 0.4) and (0, 1) at t = 0.75.
  std::vector<std::vector<Counts>> counts = {{{5, 10, 4, 10}, {5, 10, 4, 5}, {0, 10, 0, 0}}};
  Summary s = aggregate(counts, {0.25, 0.5, 0.75});
  double ap = 0;
  for (int k = 0; k <= 50; ++k) ap += 1.0 - (0.6 / 0.5) * (k / 100.0);  // from (0, 1) to (0.5, 0.4)
  EXPECT_NEAR(s.ap, ap / 100, 1e-9);
}

TEST(BoundaryAggregation, EmptySetConventions) {
  double r, p;
  recall_precision(0, 0, 0, 7, r, p);
  EXPECT_EQ(r, 1.0);
  EXPECT_EQ(p, 0.0);
  recall_precision(0, 7, 0, 0, r, p);
  EXPECT_EQ(r, 0.0);
  EXPECT_EQ(p, 1.0);
  EXPECT_EQ(f_measure(0, 1), 0.0);
}

TEST(BoundaryMetric, PerfectAndEmptyPredictions) {
  tasks::BoundaryMetricOptions o{0.011, 99, 2};
  auto m = tasks::make_boundary_metric(o);
  cv::Mat gt = cv::Mat::zeros(48, 64, CV_32F);
  cv::line(gt, {4, 4}, {60, 40}, cv::Scalar(1));
  cv::Mat pred;
  gt.convertTo(pred, CV_8U, 255);
  for (int i = 0; i < 5; ++i) m->update(pred, gt);
  OrderedJson r = m->result();
  EXPECT_NEAR(r["odsF"].get<double>(), 100.0, 1e-9);
  EXPECT_NEAR(r["oisF"].get<double>(), 100.0, 1e-9);
  EXPECT_EQ(r["images"].get<int>(), 5);
  auto none = tasks::make_boundary_metric(o);
  none->update(cv::Mat::zeros(48, 64, CV_8U), gt);
  EXPECT_EQ(none->result()["odsF"].get<double>(), 0.0);
}

}  // namespace densemtl::vision::boundary
