// Shared behaviour of task kinds, so that each task file only states what differs.
#pragma once

#include <opencv2/imgproc.hpp>

#include "densemtl/tasks/colour.h"
#include "densemtl/tasks/encode.h"
#include "densemtl/tasks/losses.h"
#include "densemtl/tasks/task.h"

namespace densemtl::tasks {

// A class index per pixel (semantic segmentation, human parts): softmax cross-entropy with
// ignore 255, argmax predictions stored as class-index PNG, nearest-neighbour resizing, mIoU.
class ClassMapTask : public Task {
 public:
  LabelKind kind() const override { return LabelKind::Classes; }
  int train_interpolation() const override { return cv::INTER_NEAREST; }
  int infer_interpolation() const override { return cv::INTER_NEAREST; }
  cv::Mat draw(const cv::Mat& value, const data::DatasetInfo&, const cv::Mat*) const override { return draw_classes(value); }
  at::Tensor loss(const at::Tensor& out, const at::Tensor& label, const LossOptions&) const override {
    return softmax_ce_loss(out, label);
  }
  cv::Mat encode_prediction(const at::Tensor& out, cv::Size original) const override { return encode_classes(out, original); }
  cv::Mat decode_prediction(const cv::Mat& stored) const override {
    cv::Mat f;
    stored.convertTo(f, CV_32F);
    return f;
  }
  std::string delta_metric() const override { return "mIoU"; }
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
};

}  // namespace densemtl::tasks
