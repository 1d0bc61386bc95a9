// Thinning (bwmorph 'thin' / Guo-Hall) and seg2bmap.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "densemtl/core/rng.h"
#include "densemtl/vision/boundaries.h"
#include "densemtl/vision/thinning.h"

namespace densemtl::vision {

namespace {

cv::Mat from_rows(const std::vector<std::string>& rows) {
  cv::Mat m(static_cast<int>(rows.size()), static_cast<int>(rows[0].size()), CV_8U);
  for (int y = 0; y < m.rows; ++y)
    for (int x = 0; x < m.cols; ++x) m.at<std::uint8_t>(y, x) = rows[static_cast<std::size_t>(y)][static_cast<std::size_t>(x)] == '#';
  return m;
}

std::vector<std::string> to_rows(const cv::Mat& m) {
  std::vector<std::string> rows;
  for (int y = 0; y < m.rows; ++y) {
    std::string r;
    for (int x = 0; x < m.cols; ++x) r += m.at<std::uint8_t>(y, x) ? '#' : '.';
    rows.push_back(r);
  }
  return rows;
}

// A direct transcription of the documented algorithm, independent of the bit-parallel one:
// evaluate G1, G2, G3 (or G3') for every pixel against a snapshot, delete, repeat until stable.
cv::Mat reference_thin(cv::Mat img) {
  img = img.clone();
  auto at = [&](const cv::Mat& m, int y, int x) -> int {
    return (y >= 0 && x >= 0 && y < m.rows && x < m.cols) ? (m.at<std::uint8_t>(y, x) != 0) : 0;
  };
  while (true) {
    bool changed = false;
    for (int sub = 0; sub < 2; ++sub) {
      cv::Mat snap = img.clone();
      for (int y = 0; y < img.rows; ++y)
        for (int x = 0; x < img.cols; ++x) {
          if (!snap.at<std::uint8_t>(y, x)) continue;
          // x1..x8 from the east neighbour counter-clockwise (up is y - 1).
          int n[10];
          n[1] = at(snap, y, x + 1);
          n[2] = at(snap, y - 1, x + 1);
          n[3] = at(snap, y - 1, x);
          n[4] = at(snap, y - 1, x - 1);
          n[5] = at(snap, y, x - 1);
          n[6] = at(snap, y + 1, x - 1);
          n[7] = at(snap, y + 1, x);
          n[8] = at(snap, y + 1, x + 1);
          n[9] = n[1];
          int xh = 0, n1 = 0, n2 = 0;
          for (int i = 1; i <= 4; ++i) {
            xh += !n[2 * i - 1] && (n[2 * i] || n[2 * i + 1]);
            n1 += n[2 * i - 1] || n[2 * i];
            n2 += n[2 * i] || n[2 * i + 1];
          }
          bool g1 = xh == 1, g2 = std::min(n1, n2) >= 2 && std::min(n1, n2) <= 3;
          bool g3 = sub == 0 ? !((n[2] || n[3] || !n[8]) && n[1]) : !((n[6] || n[7] || !n[4]) && n[5]);
          if (g1 && g2 && g3) {
            img.at<std::uint8_t>(y, x) = 0;
            changed = true;
          }
        }
    }
    if (!changed) return img;
  }
}

int components8(const cv::Mat& m) {
  cv::Mat labels;
  return cv::connectedComponents(m, labels, 8) - 1;
}

cv::Mat random_blobs(Rng& rng, int h, int w) {
  cv::Mat m = cv::Mat::zeros(h, w, CV_8U);
  for (int k = 0; k < 4; ++k) {
    cv::Point c(rng.randint(0, w - 1), rng.randint(0, h - 1));
    if (rng.bernoulli(0.5)) cv::circle(m, c, rng.randint(1, 6), cv::Scalar(1), -1);
    else cv::line(m, c, cv::Point(rng.randint(0, w - 1), rng.randint(0, h - 1)), cv::Scalar(1), rng.randint(1, 5));
  }
  return m;
}

}  // namespace

TEST(Thinning, SinglePixelsThinLinesAndEndpointsStay) {
  std::vector<std::string> already_thin = {
      ".........",
      ".#.......",
      "....####.",
      ".#.......",
      "..#...#..",
      "...#...#.",
      ".........",
  };
  EXPECT_EQ(to_rows(thin(from_rows(already_thin))), already_thin);
}

TEST(Thinning, TwoByTwoSquareHandComputed) {
  // Worked by hand from G1, G2, G3: in the first subiteration the top-left, top-right and
  // bottom-right pixels all satisfy G1 (X_H = 1), G2 (n1 = n2 = 2) and G3, the bottom-left one
  // fails G3 ((x2 | x3 | !x8) & x1 = 1), so one pixel remains.
  EXPECT_EQ(to_rows(thin(from_rows({"....", ".##.", ".##.", "...."}))),
            (std::vector<std::string>{"....", "....", ".#..", "...."}));
}

TEST(Thinning, ThickLineBecomesOnePixelWide) {
  cv::Mat m = from_rows({
      "............",
      ".##########.",
      ".##########.",
      ".##########.",
      "............",
  });
  cv::Mat t = thin(m);
  for (int x = 2; x < 10; ++x) {
    int column = 0;
    for (int y = 0; y < t.rows; ++y) column += t.at<std::uint8_t>(y, x);
    EXPECT_EQ(column, 1) << "column " << x;
  }
  EXPECT_EQ(components8(t), 1);
}

TEST(Thinning, BorderPixelsCountOutsideAsBackground) {
  cv::Mat full = cv::Mat::ones(5, 7, CV_8U);
  cv::Mat t = thin(full);
  EXPECT_EQ(components8(t), 1);
  EXPECT_LT(cv::countNonZero(t), 12);
  EXPECT_EQ(to_rows(t), to_rows(reference_thin(full)));
}

TEST(Thinning, RingKeepsItsHole) {
  cv::Mat m = cv::Mat::zeros(21, 21, CV_8U);
  cv::circle(m, cv::Point(10, 10), 7, cv::Scalar(1), 3);
  cv::Mat t = thin(m);
  cv::Mat inv = 1 - t, labels;
  // Background stays in two 4-connected parts: outside and the hole.
  EXPECT_EQ(cv::connectedComponents(inv, labels, 4) - 1, 2);
  EXPECT_EQ(components8(t), 1);
}

TEST(Thinning, MatchesTheDocumentedAlgorithmIsIdempotentAndKeepsConnectivity) {
  Rng rng(11);
  for (int trial = 0; trial < 60; ++trial) {
    cv::Mat m = random_blobs(rng, 24 + trial % 7, 30 + trial % 5);
    cv::Mat t = thin(m);
    EXPECT_EQ(to_rows(t), to_rows(reference_thin(m))) << "trial " << trial;
    EXPECT_EQ(to_rows(thin(t)), to_rows(t)) << "not idempotent, trial " << trial;
    EXPECT_EQ(components8(t), components8(m)) << "connectivity changed, trial " << trial;
    EXPECT_EQ(cv::countNonZero(t & (1 - m)), 0) << "thinning added pixels, trial " << trial;
  }
}

TEST(Thinning, BitParallelEqualsTheDocumentedAlgorithmOnWideAndThickImages) {
  // Rows of several 64-pixel words (shifts across word boundaries), thick noisy blobs that take
  // dozens of iterations (the sparse work lists), and rows wider than 64 words (every word
  // evaluated).
  Rng rng(29);
  for (int trial = 0; trial < 8; ++trial) {
    const int h = trial < 6 ? 40 + 7 * trial : 3, w = trial < 6 ? 130 + 41 * trial : 4200 + 50 * trial;
    cv::Mat noise(h, w, CV_32F), m;
    cv::RNG cv_rng(static_cast<std::uint64_t>(trial) + 1);
    cv_rng.fill(noise, cv::RNG::UNIFORM, 0.0, 1.0);
    cv::GaussianBlur(noise, noise, {0, 0}, 2.0);
    m = noise > (trial % 2 ? 0.45 : 0.52);
    m.convertTo(m, CV_8U, 1.0 / 255);
    if (trial < 6) cv::circle(m, {w / 2, h / 2}, h / 3, cv::Scalar(1), -1);
    m.row(0).col(w - 1) = 1;  // the last column and first row touch the frame
    cv::Mat t = thin(m);
    EXPECT_EQ(to_rows(t), to_rows(reference_thin(m))) << "trial " << trial << " (" << h << "x" << w << ")";
    BitImage b(m);
    thin(b, 1);
    EXPECT_EQ(to_rows(b.to_mat()), to_rows(thin(m, 1))) << "one iteration, trial " << trial;
    EXPECT_EQ(BitImage(t).count(), cv::countNonZero(t));
  }
}

TEST(Seg2bmap, HandComputedIncludingLastRowAndColumn) {
  // labels          boundary: differs from right, bottom or bottom-right;
  // 1 1 2           last row: right only; last column: bottom only; corner: never
  // 1 1 2
  // 3 3 3
  cv::Mat seg = (cv::Mat_<int>(3, 3) << 1, 1, 2, 1, 1, 2, 3, 3, 3);
  cv::Mat b = seg2bmap(seg);
  cv::Mat expected = (cv::Mat_<std::uint8_t>(3, 3) << 0, 1, 0, 1, 1, 1, 0, 0, 0);
  EXPECT_EQ(cv::norm(b, expected, cv::NORM_INF), 0) << b;
  // A change only in the last row is found by the right-neighbour rule.
  cv::Mat last = (cv::Mat_<int>(2, 3) << 5, 5, 5, 5, 6, 6);
  cv::Mat expected_last = (cv::Mat_<std::uint8_t>(2, 3) << 1, 1, 1, 1, 0, 0);
  EXPECT_EQ(cv::norm(seg2bmap(last), expected_last, cv::NORM_INF), 0) << seg2bmap(last);
  // Uniform labels: no boundary.
  EXPECT_EQ(cv::countNonZero(seg2bmap(cv::Mat(4, 4, CV_32S, cv::Scalar(3)))), 0);
}

TEST(LaplacianEdges, FourNeighbourKernelMarksBothSidesOfAChange) {
  cv::Mat seg = (cv::Mat_<int>(3, 4) << 1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 2, 2);
  cv::Mat e = laplacian_edges(seg);
  cv::Mat expected = (cv::Mat_<std::uint8_t>(3, 4) << 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0);
  EXPECT_EQ(cv::norm(e, expected, cv::NORM_INF), 0) << e;
}

}  // namespace densemtl::vision
