// Shared behaviour of task kinds, so that each task file only states what differs.
#pragma once

#include <opencv2/imgproc.hpp>

#include <algorithm>

#include "densemtl/tasks/colour.h"
#include "densemtl/tasks/encode.h"
#include "densemtl/tasks/losses.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/tasks/task.h"

namespace densemtl::tasks {

// The majority class of the training labels (255 = ignore), predicted everywhere.
class MajorityClass : public ConstantPredictor {
 public:
  void observe(const cv::Mat& label) override {
    for (int y = 0; y < label.rows; ++y)
      for (int x = 0; x < label.cols; ++x) {
        int c = static_cast<int>(label.at<float>(y, x));
        if (c == 255 || c < 0) continue;
        if (static_cast<std::size_t>(c) >= counts_.size()) counts_.resize(static_cast<std::size_t>(c) + 1, 0.0);
        counts_[static_cast<std::size_t>(c)] += 1;
      }
  }
  cv::Mat predict(cv::Size size) const override {
    int majority = counts_.empty() ? 0 : static_cast<int>(std::max_element(counts_.begin(), counts_.end()) - counts_.begin());
    return cv::Mat(size, CV_8U, cv::Scalar(majority));
  }

 private:
  std::vector<double> counts_;
};

// The majority value of a binary map (0 or 255 everywhere): no boundaries, no saliency unless
// most pixels are salient.
class MajorityValue : public ConstantPredictor {
 public:
  void observe(const cv::Mat& label) override {
    positive_ += cv::countNonZero(label > 0.5);
    total_ += static_cast<double>(label.total());
  }
  cv::Mat predict(cv::Size size) const override { return cv::Mat(size, CV_8U, cv::Scalar(positive_ * 2 > total_ ? 255 : 0)); }

 private:
  double positive_ = 0, total_ = 0;
};

// A class index per pixel (semantic segmentation, human parts): softmax cross-entropy with
// ignore 255, argmax predictions stored as class-index PNG, nearest-neighbour resizing, mIoU.
class ClassMapTask : public Task {
 public:
  LabelKind kind() const override { return LabelKind::Classes; }
  int output_channels(const data::DatasetInfo& d) const override { return static_cast<int>(class_names(d).size()); }
  int train_interpolation() const override { return cv::INTER_NEAREST; }
  int infer_interpolation() const override { return cv::INTER_NEAREST; }
  cv::Mat draw(const cv::Mat& value, const data::DatasetInfo&, const cv::Mat*) const override { return draw_classes(value); }
  at::Tensor loss(const at::Tensor& out, const at::Tensor& label) const override { return softmax_ce_loss(out, label); }
  cv::Mat encode_prediction(const at::Tensor& out, cv::Size original) const override { return encode_classes(out, original); }
  cv::Mat decode_prediction(const cv::Mat& stored) const override {
    cv::Mat f;
    stored.convertTo(f, CV_32F);
    return f;
  }
  std::unique_ptr<Metric> make_metric(const MetricContext& c) const override { return make_miou_metric(class_names(c.dataset)); }
  std::unique_ptr<ConstantPredictor> constant_predictor() const override { return std::make_unique<MajorityClass>(); }
  std::string delta_metric() const override { return "mIoU"; }
  std::vector<std::pair<std::string, double>> per_class(const OrderedJson& metrics) const override {
    std::vector<std::pair<std::string, double>> out;
    if (metrics.contains("per_class_IoU") && metrics["per_class_IoU"].is_object())
      for (const auto& [cls, iou] : metrics["per_class_IoU"].items())
        if (iou.is_number()) out.emplace_back(cls, iou.get<double>());
    return out;
  }
};

// A binary map predicted as one logit per pixel (saliency, boundaries): labels resized with
// nearest neighbour, predictions stored as 0..255 PNG of 255 * sigmoid, drawn in grey.
class BinaryMapTask : public Task {
 public:
  LabelKind kind() const override { return LabelKind::Binary; }
  int output_channels(const data::DatasetInfo&) const override { return 1; }
  int train_interpolation() const override { return cv::INTER_NEAREST; }
  int infer_interpolation() const override { return cv::INTER_LINEAR; }
  cv::Mat draw(const cv::Mat& value, const data::DatasetInfo&, const cv::Mat*) const override { return draw_gray(value); }
  cv::Mat encode_prediction(const at::Tensor& out, cv::Size original) const override { return encode_probability(out, original); }
  cv::Mat decode_prediction(const cv::Mat& stored) const override {
    cv::Mat f;
    stored.convertTo(f, CV_32F, 1.0 / 255);
    return f;
  }
  std::unique_ptr<ConstantPredictor> constant_predictor() const override { return std::make_unique<MajorityValue>(); }
};

}  // namespace densemtl::tasks
