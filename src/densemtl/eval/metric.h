// Metric accumulators. A metric is fed one image at a time with the prediction exactly as it is
// stored in a prediction folder (see Task::encode_prediction) and the raw ground truth at the
// image's original resolution, and reports numbers in the units of the survey's tables.
#pragma once

#include <opencv2/core.hpp>

#include <memory>
#include <string>
#include <vector>

#include "densemtl/core/json.h"

namespace densemtl::eval {

class Metric {
 public:
  virtual ~Metric() = default;
  virtual void update(const cv::Mat& prediction, const cv::Mat& label) = 0;
  virtual OrderedJson result() const = 0;
  virtual std::size_t images() const = 0;
};

struct MetricOptions {
  std::vector<std::string> class_names;  // classes of a segmentation task
  bool skip_empty_images = false;        // human parts: skip images whose GT is all 0 or all 255
  double edge_max_dist = 0.011;          // boundary matching tolerance (fraction of the diagonal)
  int edge_thresholds = 99;
  int threads = 0;
};

// Semantic segmentation / human parts: class-index predictions (CV_8U), labels with 255 = ignore.
// mIoU over the whole set: IoU_c = TP / max(TP + FP + FN, 1e-8), averaged over all classes
// (a class never present nor predicted counts 0, as in the reference).
std::unique_ptr<Metric> make_miou_metric(const MetricOptions& o);
// Saliency: 0..255 predictions, binary labels; 15 thresholds 0.20 .. 0.90, per image Jaccard,
// precision, recall; maxF from image-averaged P and R; mIoU = max over thresholds.
std::unique_ptr<Metric> make_saliency_metric();
// Normals: RGB-encoded predictions (CV_8UC3, (n + 1) 255 / 2), labels with zero = invalid.
// Angle errors pooled over all valid pixels: mean, median, rmse, % < 11.25, 22.5, 30 degrees.
std::unique_ptr<Metric> make_normals_metric();
// Depth: CV_32F metres; labels 0 = invalid; pixel-pooled rmse and log-rmse (predictions <= 0 are
// clamped to 1e-9).
std::unique_ptr<Metric> make_depth_metric();

// Boundaries: 0..255 predictions, boundary-map labels; odsF, oisF, AP (percent) as the BSDS/SEISM
// benchmark computes them (see boundary.h), over options.edge_thresholds thresholds with
// tolerance options.edge_max_dist.
std::unique_ptr<Metric> make_boundary_metric(const MetricOptions& o);

// The angular error histogram resolution of the normals metric (degrees per bin).
constexpr double kAngleBin = 0.0005;

}  // namespace densemtl::eval
