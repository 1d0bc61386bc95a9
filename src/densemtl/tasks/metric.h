// Metric accumulators. A metric is fed one image at a time with the prediction exactly as it is
// stored in a prediction folder (see Task::encode_prediction) and the raw ground truth at the
// image's original resolution, and reports numbers in the units of the survey's tables.
#pragma once

#include <opencv2/core.hpp>

#include <memory>
#include <string>
#include <vector>

#include "densemtl/core/json.h"

namespace densemtl::tasks {

class Metric {
 public:
  virtual ~Metric() = default;
  virtual void update(const cv::Mat& prediction, const cv::Mat& label) = 0;
  virtual OrderedJson result() const = 0;
  virtual std::size_t images() const = 0;
  // Sharded evaluation (one shard per process): the accumulator's state as numbers (counts and
  // sums, exact in a double), and merging another shard's state into this one, so that the
  // merged accumulator reports what one accumulator fed every image would (pooled counts, not
  // an average of the shards' metrics).
  virtual std::vector<double> state() const = 0;
  virtual void merge(const std::vector<double>& state) = 0;
};

// Merges every other process's state into `metric` (sharded evaluation); nothing without a
// multi-process group.
void merge_over_processes(Metric& metric);

// Semantic segmentation / human parts: class-index predictions (CV_8U), labels with 255 = ignore.
// mIoU over the whole set: IoU_c = TP / max(TP + FP + FN, 1e-8), averaged over all classes
// (a class never present nor predicted counts 0, as in the reference). With
// `skip_empty_images`, images whose ground truth is all 0 or all 255 are skipped (human parts).
std::unique_ptr<Metric> make_miou_metric(const std::vector<std::string>& class_names, bool skip_empty_images = false);
// Saliency: 0..255 predictions, binary labels; 15 thresholds 0.20 .. 0.90, per image Jaccard,
// precision, recall; maxF from image-averaged P and R; mIoU = max over thresholds.
std::unique_ptr<Metric> make_saliency_metric();
// Normals: RGB-encoded predictions (CV_8UC3, (n + 1) 255 / 2), labels with zero = invalid.
// Angle errors pooled over all valid pixels: mean, median, rmse, % < 11.25, 22.5, 30 degrees.
std::unique_ptr<Metric> make_normals_metric();
// Depth: CV_32F metres; labels 0 = invalid; pixel-pooled rmse, log-rmse and delta1 (% of pixels
// with max(d/d*, d*/d) < 1.25) (predictions <= 0 are clamped to 1e-9).
std::unique_ptr<Metric> make_depth_metric();

// Boundaries: 0..255 predictions, boundary-map labels; odsF, oisF, AP (percent) as the BSDS/SEISM
// benchmark computes them (see vision/boundary_match.h), over `thresholds` thresholds with
// tolerance `max_dist` (a fraction of the image diagonal), on `threads` threads (0 = all cores).
struct BoundaryMetricOptions {
  double max_dist = 0.011;
  int thresholds = 99;
  int threads = 0;
};
std::unique_ptr<Metric> make_boundary_metric(const BoundaryMetricOptions& o);

// The angular error histogram resolution of the normals metric (degrees per bin).
constexpr double kAngleBin = 0.0005;

}  // namespace densemtl::tasks
