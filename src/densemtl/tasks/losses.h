// The per-task losses of the reference (the survey's code's losses/loss_functions.py,
// github.com/SimonVandenhende/Multi-Task-Learning-PyTorch), shared by the task files.
#pragma once

#include <ATen/core/Tensor.h>

#include <opencv2/core.hpp>

#include <optional>

namespace densemtl::tasks {

// Multi-process training: while a GlobalBatch is alive on this thread, the batch-wide totals the
// losses normalise by (the number of supervised elements, the balanced BCE's share of positives)
// are summed over the processes (core/collective.h). Each process's loss is then its share of
// the loss of the global batch: the processes' losses add up to what one process computes on the
// whole batch, and so do their gradients.
class GlobalBatch {
 public:
  GlobalBatch();
  ~GlobalBatch();
  GlobalBatch(const GlobalBatch&) = delete;
  GlobalBatch& operator=(const GlobalBatch&) = delete;

 private:
  bool previous_;
};

// Softmax cross-entropy over channels, ignore label 255, mean over supervised pixels.
at::Tensor softmax_ce_loss(const at::Tensor& logits, const at::Tensor& label);
// Class-balanced binary cross-entropy on logits (HED): positives weighted `pos_weight`, negatives
// 1 - pos_weight; without a weight, pos_weight = (#negatives) / (#pixels) of the whole batch.
// Normalised by the number of supervised elements (the batch's element count when nothing is
// ignored, as the reference). Pixels labelled 255 are not supervised.
at::Tensor balanced_bce_loss(const at::Tensor& logits, const at::Tensor& label, std::optional<double> pos_weight);
// L1 between L2-normalised predictions (x / (|x| + 1e-12)) and labels over valid elements.
at::Tensor normals_l1_loss(const at::Tensor& output, const at::Tensor& label);
// L1 over valid pixels.
at::Tensor masked_l1_loss(const at::Tensor& output, const at::Tensor& label);

// A network output [C, h, w] as an H x W x C float matrix.
cv::Mat tensor_to_mat(const at::Tensor& chw);

}  // namespace densemtl::tasks
