// Building blocks shared by the networks: a Conv2d that counts multiply-accumulates (for FLOPs
// per image), batch norm with an explicit momentum, channel scaling for the width option, and
// ResNet's BasicBlock / Bottleneck (torchvision names: conv1, bn1, ..., downsample.0/1).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace densemtl::models {

using Features = std::vector<torch::Tensor>;

// While a MacCounter is alive on this thread, convolutions and linear layers add their
// multiply-accumulates to it.
class MacCounter {
 public:
  MacCounter();
  ~MacCounter();
  std::int64_t macs() const { return macs_; }
  static void add(std::int64_t macs);

 private:
  std::int64_t macs_ = 0;
  MacCounter* previous_;
};

// A dilated 3x3 convolution with stride 1 and padding = dilation d ("same" size) reads only zero
// padding through its off-centre taps along an axis whose input extent is at most d (the DeepLab
// paper's observation on large atrous rates). Such a convolution runs with those taps left out
// (a 1x3, 3x1 or 1x1 kernel): the same result up to float rounding, and the same gradients (zero
// for the unused taps), for less work. It applies to ASPP at small inputs (rates 12/24/36 at
// output stride 8 on images up to 288x288, say); at NYUD's 480x640 it does not.
class Conv2dImpl : public torch::nn::Conv2dImpl {
 public:
  using torch::nn::Conv2dImpl::Conv2dImpl;
  torch::Tensor forward(const torch::Tensor& x);
  // Set when a following batch norm was folded into this convolution (inference only).
  torch::Tensor folded_bias;
  // The dilation of a 3x3, stride-1, padding = dilation convolution (set by conv()); 0 otherwise.
  std::int64_t same_dilation = 0;
};
TORCH_MODULE(Conv2d);

// A transposed convolution that counts its multiply-accumulates (input pixels × in × out/groups ×
// kernel taps) and can take a folded batch norm, as Conv2d.
class ConvTranspose2dImpl : public torch::nn::ConvTranspose2dImpl {
 public:
  using torch::nn::ConvTranspose2dImpl::ConvTranspose2dImpl;
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor folded_bias;
};
TORCH_MODULE(ConvTranspose2d);

// Batch norm as nn.BatchNorm2d (same parameter and buffer names, same running-statistics update).
// A batch norm built with batch_norm(conv) declares that it normalises exactly that
// convolution's output, which nothing else reads; for inference it can then be folded into the
// convolution (models/inference.h). Without that declaration it is never folded.
class BatchNorm2dImpl : public torch::nn::Module {
 public:
  explicit BatchNorm2dImpl(std::int64_t channels, double momentum = 0.1, double eps = 1e-5);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  double momentum, eps;
  bool folded = false;
  std::weak_ptr<Conv2dImpl> input;  // the convolution whose output this normalises, if declared
  std::weak_ptr<ConvTranspose2dImpl> transposed_input;  // or the transposed convolution
};
TORCH_MODULE(BatchNorm2d);

class LinearImpl : public torch::nn::LinearImpl {
 public:
  using torch::nn::LinearImpl::LinearImpl;
  torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(Linear);

Conv2d conv(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride = 1, std::int64_t padding = 0,
            std::int64_t dilation = 1, bool bias = false);
BatchNorm2d batch_norm(std::int64_t channels, double momentum = 0.1);
// A batch norm of the output of `input` (its out_channels), declared foldable into it.
BatchNorm2d batch_norm(const Conv2d& input, double momentum = 0.1);
BatchNorm2d batch_norm(const ConvTranspose2d& input, double momentum = 0.1);
// Channel count under the width option: max(1, round(channels * width)).
std::int64_t scaled(std::int64_t channels, double width);

// Bilinear resize with align_corners = false (the reference's F.interpolate default).
torch::Tensor upsample(const torch::Tensor& x, std::int64_t height, std::int64_t width);

// torchvision's ResNet blocks. `dilation_first` applies to the (possibly strided) first 3x3
// conv, `dilation` to the other one (the dilated-ResNet rules of the reference).
class BasicBlockImpl : public torch::nn::Module {
 public:
  static constexpr int kExpansion = 1;
  BasicBlockImpl(std::int64_t inplanes, std::int64_t planes, std::int64_t stride, std::int64_t dilation_first,
                 std::int64_t dilation, bool downsample, double bn_momentum = 0.1);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  Conv2d conv1{nullptr}, conv2{nullptr};
  BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(BasicBlock);

class BottleneckImpl : public torch::nn::Module {
 public:
  static constexpr int kExpansion = 4;
  BottleneckImpl(std::int64_t inplanes, std::int64_t planes, std::int64_t stride, std::int64_t dilation_first,
                 std::int64_t dilation, bool downsample, double bn_momentum = 0.1);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(Bottleneck);

// nn::Sequential with a concrete forward, so that Sequentials can nest (the reference nests them,
// e.g. HRNet's transition and fuse layers).
class SeqImpl : public torch::nn::SequentialImpl {
 public:
  using torch::nn::SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return torch::nn::SequentialImpl::forward(std::move(x)); }
};
TORCH_MODULE(Seq);

// A container whose children are named by index but may have gaps (the reference's ModuleLists
// hold None at some positions, e.g. HRNet's transition and fuse layers).
class IndexedImpl : public torch::nn::Module {
 public:
  explicit IndexedImpl(std::size_t size) : children_(size) {}
  void set(std::size_t index, std::shared_ptr<torch::nn::Module> module);
  template <typename T>
  std::shared_ptr<T> at(std::size_t index) const {
    return std::dynamic_pointer_cast<T>(children_.at(index));
  }
  bool has(std::size_t index) const { return index < children_.size() && children_[index] != nullptr; }
  std::size_t size() const { return children_.size(); }

 private:
  std::vector<std::shared_ptr<torch::nn::Module>> children_;
};
TORCH_MODULE(Indexed);

// torchvision's ResNet initialisation: kaiming_normal(fan_out, relu) for convs, BN 1 / 0.
void init_resnet_style(torch::nn::Module& module);

}  // namespace densemtl::models
