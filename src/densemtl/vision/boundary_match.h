// Native boundary evaluation: what the BSDS/SEISM benchmark computes for odsF, oisF and AP
// (as the survey's code runs them through SEISM), without MATLAB.
//   * predictions are binarised at each threshold (E = p >= t) and thinned like
//     bwmorph(E, 'thin', Inf); ground-truth boundaries are thinned the same way;
//   * correspond(): minimum-cost one-to-one matching between predicted and ground-truth boundary
//     pixels with BSDS's cost model: integer costs round(100 d) for pixels at Euclidean distance
//     d <= maxDist * diagonal, and round(100 * outlierCost * maxDist * diagonal) for every pixel
//     left unmatched (outlierCost = 100). BSDS solves this with Goldberg's CSA on a sparse graph
//     with random outlier edges (approximate); densemtl solves it exactly, per connected component
//     of the gated graph, with a primal-dual successive-shortest-path algorithm (Dijkstra with
//     potentials from the side with fewer free pixels, then a blocking set of tight augmenting
//     paths per phase), or with Bertsekas' forward auction and epsilon scaling on BSDS's own
//     perfect-assignment formulation (the two agree; the tests check it);
//   * image_counts() does not solve each threshold from scratch: it walks the thresholds from the
//     highest down and keeps one optimal matching up to date with IncrementalMatcher (same counts
//     as correspond() at every threshold; the tests and `densemtl_bench_boundary --verify` check);
//   * per image and threshold the counts (matched GT, GT, matched prediction, prediction), and
//     ODS-F, OIS-F and AP aggregated as SEISM does.
#pragma once

#include <opencv2/core.hpp>

#include "densemtl/vision/thinning.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace densemtl::vision::boundary {

struct Counts {
  std::int64_t cnt_r = 0, sum_r = 0, cnt_p = 0, sum_p = 0;
};

class IncrementalMatcher;

struct Match {
  std::int64_t matches = 0;   // matched pairs (each GT pixel and each predicted pixel at most once)
  std::int64_t cost = 0;      // total cost in BSDS's integer units (matches + outliers)
};

// Two exact solvers of the same problem (both optimal; the tests check they agree):
enum class Algorithm {
  SuccessiveShortestPaths,  // primal-dual successive shortest paths (the default: faster here)
  Auction                   // forward auction with epsilon scaling
};

// The ground-truth side of the correspondence, prepared once per image: the boundary pixels, a
// pixel -> index grid and the gate's offsets with their integer costs.
class GroundTruth {
 public:
  GroundTruth(const cv::Mat& boundaries, double max_dist, double outlier_cost = 100.0);
  cv::Size size() const { return size_; }
  std::size_t pixels() const { return points_.size(); }

 private:
  friend Match correspond(const cv::Mat&, const GroundTruth&, Algorithm);
  friend class IncrementalMatcher;
  struct Offset {
    int dy, dx;
    std::int64_t cost;
  };
  cv::Size size_;
  double radius_ = 0;
  std::int64_t outlier_ = 0;
  std::vector<int> grid_;
  std::vector<cv::Point> points_;
  std::vector<Offset> offsets_;
};

Match correspond(const cv::Mat& prediction, const GroundTruth& ground_truth, Algorithm algorithm = Algorithm::SuccessiveShortestPaths);

// Exact BSDS correspondence of two binary maps (CV_8U, non-zero = boundary) of the same size.
// `max_dist` is a fraction of the image diagonal.
Match correspond(const cv::Mat& prediction, const cv::Mat& ground_truth, double max_dist, double outlier_cost = 100.0,
                 Algorithm algorithm = Algorithm::SuccessiveShortestPaths);

// The optimal matching of a prediction set that changes (from one threshold to the next) against a
// fixed ground truth, kept optimal across changes instead of solved again. It solves the same
// problem as correspond() in its dual form - a maximum-weight matching with weights
// w = 2C - c, scaled as (n + 1) w - 1 so that among the optimal matchings the one with the fewest
// pairs is kept, as the successive-shortest-path solver stops at the first optimum - with dual
// values u (prediction pixels) and v (ground-truth pixels): u, v >= 0, u + v >= w on every gated
// pair, equality on matched pairs and zero duals on unmatched pixels prove optimality. A pixel
// that leaves the set frees its partner, a pixel that joins gets u = max(0, max (w - v)); each
// free pixel with a positive dual is then repaired by one Dijkstra search over reduced costs
// (the Hungarian step): the alternating tree grows until it reaches a free pixel of the other
// side (augment) or a pixel of the root's side whose dual reaches zero (it leaves the matching),
// duals are updated from the distances, and every condition holds again. A search stays near its
// root, so the work per threshold follows the pixels that changed, not the image.
class IncrementalMatcher {
 public:
  explicit IncrementalMatcher(const GroundTruth& ground_truth);
  ~IncrementalMatcher();
  IncrementalMatcher(const IncrementalMatcher&) = delete;
  IncrementalMatcher& operator=(const IncrementalMatcher&) = delete;
  // Makes `prediction` (CV_8U, non-zero = boundary, the ground truth's size) the prediction set and
  // returns the number of matched pairs of its optimal correspondence.
  std::int64_t update(const cv::Mat& prediction);
  std::int64_t update(const BitImage& prediction);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// The default thresholds 0.01, 0.02, ..., 0.99 (n = 99) or n evenly spaced in (0, 1).
std::vector<double> thresholds(int n = 99);

// Where one image's time goes, per threshold (filled by image_counts when asked).
struct Profile {
  std::vector<std::int64_t> binarised;    // foreground pixels before thinning
  std::vector<double> thin_seconds, match_seconds;
};

// Counts of one image at every threshold. `prediction` holds 0..255 probabilities (CV_8U),
// binarised as p / 255 >= t and thinned; `ground_truth` is a boundary map (CV_8U or CV_32F,
// non-zero = boundary), thinned here. `threads` > 1 spreads the thresholds over threads.
std::vector<Counts> image_counts(const cv::Mat& prediction, const cv::Mat& ground_truth, const std::vector<double>& thresholds,
                                 double max_dist, int threads = 1, Profile* profile = nullptr);

// The same counts, each threshold binarised, thinned and matched on its own from scratch (the
// definition image_counts is tested against).
std::vector<Counts> image_counts_reference(const cv::Mat& prediction, const cv::Mat& ground_truth, const std::vector<double>& thresholds,
                                           double max_dist);

struct Summary {
  double ods_f = 0, ods_p = 0, ods_r = 0, ods_t = 0;
  double ois_f = 0, ois_p = 0, ois_r = 0;
  double ap = 0;
  std::vector<double> recall, precision;  // the ODS curve: counts summed over images, per threshold
};

// ODS, OIS and AP from per-image, per-threshold counts (images x thresholds).
Summary aggregate(const std::vector<std::vector<Counts>>& counts, const std::vector<double>& thresholds);

// Recall and precision of one set of counts, with SEISM's conventions for empty sets
// (no ground truth: R = 1, P = 0; no prediction: R = 0, P = 1).
void recall_precision(std::int64_t cnt_r, std::int64_t sum_r, std::int64_t cnt_p, std::int64_t sum_p, double& r, double& p);
double f_measure(double r, double p);

}  // namespace densemtl::vision::boundary
