// A dense prediction task: what its labels are, how many channels a network predicts for it on a
// given dataset, how its labels move through the augmentation pipeline, its loss, how its
// predictions are stored, scored and drawn, its constant (trivial) prediction, its report
// columns, and its own options. One file per task (semseg.cpp, depth.cpp, ...), each ending in one
// registration line (see registry.h); kinds.h holds what several tasks share.
#pragma once

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "densemtl/core/config.h"
#include "densemtl/core/dataset_info.h"
#include "densemtl/core/fs.h"
#include "densemtl/tasks/metric.h"

namespace densemtl::tasks {

enum class LabelKind {
  Classes,  // class index per pixel (semseg, human_parts)
  Binary,   // {0, 1} per pixel, predicted as one logit (sal, edge)
  Normals,  // unit 3-vector per pixel
  Depth,    // metres per pixel
};

// A column of the results table (report, benchmark): one metric of the task.
struct ReportColumn {
  std::string metric;  // key in the task's metrics
  std::string header;  // e.g. "Seg. mIoU ↑"
  bool lower_is_better = false;
  int digits = 2;
};

// A precision-recall curve stored in a task's metrics (boundaries), for figures: fractions in
// [0, 1], one point per threshold, and the curve's ODS point.
struct PrCurve {
  std::vector<double> recall, precision;
  double ods_r = 0, ods_p = 0, ods_f = 0;
};

// The trivial predictor of a task: statistics gathered from training labels, then one constant
// prediction per image, in the stored prediction format (a floor every model must beat).
class ConstantPredictor {
 public:
  virtual ~ConstantPredictor() = default;
  virtual void observe(const cv::Mat& label) = 0;
  virtual cv::Mat predict(cv::Size size) const = 0;
};

// What a metric needs besides the task: the dataset (class names, default tolerances) and how
// many threads it may use (0 = all cores).
struct MetricContext {
  const data::DatasetInfo& dataset;
  int threads = 0;
};

class Task {
 public:
  virtual ~Task() = default;

  // Canonical name (semseg, human_parts, sal, normals, edge, depth) and a human title.
  virtual std::string name() const = 0;
  virtual std::string title() const = 0;
  virtual LabelKind kind() const = 0;
  // Channels of the stored label (1, or 3 for normals).
  virtual int label_channels() const { return 1; }
  // Channels a network predicts for this task on `dataset`.
  virtual int output_channels(const data::DatasetInfo& dataset) const = 0;
  // Class names of a class-map task on `dataset` (empty for the others).
  virtual std::vector<std::string> class_names(const data::DatasetInfo&) const { return {}; }
  // One phrase for dataset summaries, e.g. "semseg (40 classes)".
  virtual std::string describe(const data::DatasetInfo&) const { return name(); }

  // --- Options (config keys tasks.<name>.<key>, declared by the task's file) ---
  virtual std::vector<config::Spec> option_specs() const { return {}; }
  // Reads the options from a view on tasks.<name>; called once on a fresh instance.
  virtual void configure(const config::View& /*options*/) {}

  // OpenCV interpolation for training-time warps and resizes (the reference's FLAGVALS) and for
  // resizing predictions back to the original size (INFER_FLAGVALS).
  virtual int train_interpolation() const = 0;
  virtual int infer_interpolation() const = 0;

  // The value that marks "no supervision here" after the pipeline's ignore step.
  static constexpr float kIgnore = 255.0f;

  // Pipeline hooks; the defaults do nothing.
  // After a horizontal flip of the label (normals negate x).
  virtual void on_flip(cv::Mat& /*label*/) const {}
  // Before the label is warped by an in-plane rotation of `degrees` (OpenCV's sense:
  // counter-clockwise on screen). Normals rotate with the image.
  virtual void before_rotate(cv::Mat& /*label*/, double /*degrees*/, bool /*normals_y_down*/) const {}
  // After the label was warped with zoom `scale` (depth is divided by it).
  virtual void after_scale(cv::Mat& /*label*/, double /*scale*/) const {}
  // After the fixed resize to the network size (normals are renormalised).
  virtual void after_resize(cv::Mat& /*label*/) const {}
  // Marks pixels without supervision with kIgnore (invalid depth, zero normals, ...).
  virtual void mark_ignore(cv::Mat& /*label*/) const {}
  // Fails (without naming the file: readers add it) when a label as read holds values the task
  // cannot mean: any non-finite value; depth also negative ones (0 is the invalid marker).
  virtual void check_label(const cv::Mat& label) const;

  // A picture (RGB, CV_8UC3) of a label or of a prediction in label space. `reference`, when
  // given, is the ground truth of the same image, so that a prediction and its ground truth share
  // one colour scale (depth).
  virtual cv::Mat draw(const cv::Mat& value, const data::DatasetInfo& dataset,
                       const cv::Mat* reference = nullptr) const = 0;

  // --- Training ---
  // The task's loss (as the survey's code computes it) of raw network output [B, C, H, W]
  // against labels
  // [B, label_channels, H, W] (255 = ignore). A batch without any supervised pixel gives 0,
  // still connected to the graph.
  virtual at::Tensor loss(const at::Tensor& output, const at::Tensor& label) const = 0;

  // --- Evaluation and prediction folders ---
  // Raw output of one image ([C, h, w] at the network size) -> the prediction at the image's
  // original size exactly as a prediction folder stores it: class index (CV_8U), 0..255
  // probability (CV_8U), RGB-encoded normals (CV_8UC3), metres (CV_32F).
  virtual cv::Mat encode_prediction(const at::Tensor& output, cv::Size original) const = 0;
  // A stored prediction back in label space (class index, probability in [0, 1], unit normals,
  // metres; all float), for pictures.
  virtual cv::Mat decode_prediction(const cv::Mat& stored) const = 0;
  // File name extension in prediction folders (".png" or ".npy").
  virtual std::string prediction_extension() const { return ".png"; }
  void write_prediction(const fs::path& file, const cv::Mat& stored) const;
  // Reads and validates a stored prediction (type and channels); the file is named in errors.
  virtual cv::Mat read_prediction(const fs::path& file) const;
  // The accumulator of the survey's metrics for this task.
  virtual std::unique_ptr<Metric> make_metric(const MetricContext& context) const = 0;
  // The trivial predictor (constant prediction from training statistics).
  virtual std::unique_ptr<ConstantPredictor> constant_predictor() const = 0;

  // --- Multi-task performance (Delta_m, the survey's Eq. 10) and tables ---
  // The metric Delta_m uses (a key of make_metric's result) and its direction.
  virtual std::string delta_metric() const = 0;
  virtual bool lower_is_better() const { return false; }
  // A key performance indicator in [0, 1], higher is better, from this task's metrics (for
  // methods that prioritise tasks by how well they do, e.g. DTP): by default the Δm metric / 100
  // when higher is better; normals: the share within 11.25°; depth: delta1.
  virtual std::optional<double> kpi(const OrderedJson& metrics) const;
  // The columns of this task in results tables.
  virtual std::vector<ReportColumn> report_columns() const = 0;
  // Its precision-recall curve in `metrics` (this task's metrics object), for results figures;
  // nullopt for tasks without one or metrics that lack it.
  virtual std::optional<PrCurve> pr_curve(const OrderedJson& /*metrics*/) const { return std::nullopt; }
  // Its per-class scores (%) in `metrics`, in the dataset's class order, for per-class heat maps;
  // empty for tasks without classes.
  virtual std::vector<std::pair<std::string, double>> per_class(const OrderedJson& /*metrics*/) const { return {}; }
};

}  // namespace densemtl::tasks
