#include "densemtl/models/layers.h"

#include "densemtl/core/collective.h"
#include "densemtl/core/error.h"
#include "densemtl/models/sync_batch_norm.h"

#include <cmath>

namespace densemtl::models {

namespace {
thread_local MacCounter* g_counter = nullptr;
}

MacCounter::MacCounter() : previous_(g_counter) { g_counter = this; }
MacCounter::~MacCounter() { g_counter = previous_; }
void MacCounter::add(std::int64_t macs) {
  if (g_counter) g_counter->macs_ += macs;
}

torch::Tensor Conv2dImpl::forward(const torch::Tensor& x) {
  namespace F = torch::nn::functional;
  torch::Tensor y;
  const std::int64_t d = same_dilation;
  if (d > 1 && x.dim() == 4 && (x.size(2) <= d || x.size(3) <= d)) {
    // Off-centre taps that only ever see zero padding are left out (see layers.h).
    const bool rows = x.size(2) <= d, cols = x.size(3) <= d;
    torch::Tensor w = weight;
    if (rows) w = w.narrow(2, 1, 1);
    if (cols) w = w.narrow(3, 1, 1);
    y = F::conv2d(x, w, F::Conv2dFuncOptions()
                            .bias(folded_bias.defined() ? folded_bias : bias)
                            .padding(torch::ExpandingArray<2>({rows ? std::int64_t{0} : d, cols ? std::int64_t{0} : d}))
                            .dilation(torch::ExpandingArray<2>({rows ? std::int64_t{1} : d, cols ? std::int64_t{1} : d}))
                            .groups(options.groups()));
  } else if (folded_bias.defined()) {
    const auto& o = options;
    y = F::conv2d(x, weight, F::Conv2dFuncOptions().bias(folded_bias).stride(o.stride()).padding(o.padding()).dilation(o.dilation()).groups(o.groups()));
  } else {
    y = torch::nn::Conv2dImpl::forward(x);
  }
  if (g_counter) {
    const auto& o = options;
    std::int64_t k = o.kernel_size()->at(0) * o.kernel_size()->at(1);
    MacCounter::add(y.numel() * (o.in_channels() / o.groups()) * k);
  }
  return y;
}

torch::Tensor ConvTranspose2dImpl::forward(const torch::Tensor& x) {
  const auto& o = options;
  torch::Tensor y = torch::nn::ConvTranspose2dImpl::forward(x);
  // A folded batch norm: the bias becomes folded_bias (the weight is already scaled).
  if (folded_bias.defined()) y = y + (bias.defined() ? folded_bias - bias : folded_bias).view({1, -1, 1, 1});
  if (g_counter) {
    std::int64_t k = o.kernel_size()->at(0) * o.kernel_size()->at(1);
    MacCounter::add(x.numel() * (o.out_channels() / o.groups()) * k);
  }
  return y;
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::nn::LinearImpl::forward(x);
  if (g_counter) MacCounter::add(y.numel() * options.in_features());
  return y;
}

Conv2d conv(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride, std::int64_t padding,
            std::int64_t dilation, bool bias) {
  Conv2d c(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).dilation(dilation).bias(bias));
  if (kernel == 3 && stride == 1 && dilation > 1 && padding == dilation) c->same_dilation = dilation;
  return c;
}

BatchNorm2dImpl::BatchNorm2dImpl(std::int64_t channels, double momentum_, double eps_) : momentum(momentum_), eps(eps_) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
  running_mean = register_buffer("running_mean", torch::zeros({channels}));
  running_var = register_buffer("running_var", torch::ones({channels}));
  num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
}

namespace {
bool g_sync_batch_norm = false;

// Batch norm with the global batch's statistics (models/sync_batch_norm.h), two passes over the
// data (mean, then the squared deviations) as torch::batch_norm computes them.
torch::Tensor synchronised_batch_norm(BatchNorm2dImpl& bn, const torch::Tensor& x) {
  const std::int64_t c = x.size(1);
  torch::Tensor xf = x.to(torch::kFloat32);
  torch::Tensor n = torch::full({1}, static_cast<double>(x.numel() / c), xf.options());
  torch::Tensor sums = all_reduce_sum_differentiable(torch::cat({xf.sum({0, 2, 3}), n}));
  torch::Tensor count = sums.narrow(0, c, 1).detach();
  torch::Tensor mean = sums.narrow(0, 0, c) / count;
  torch::Tensor centred = xf - mean.view({1, c, 1, 1});
  torch::Tensor var = all_reduce_sum_differentiable(centred.pow(2).sum({0, 2, 3})) / count;
  {
    torch::NoGradGuard no_grad;
    const double total = count.item<double>();
    bn.running_mean.mul_(1 - bn.momentum).add_(mean.detach(), bn.momentum);
    bn.running_var.mul_(1 - bn.momentum).add_(var.detach() * (total / std::max(total - 1, 1.0)), bn.momentum);
  }
  torch::Tensor y = centred * torch::rsqrt(var + bn.eps).view({1, c, 1, 1}) * bn.weight.view({1, c, 1, 1}) +
                    bn.bias.view({1, c, 1, 1});
  return y.to(x.scalar_type());
}
}  // namespace

void set_sync_batch_norm(bool on) { g_sync_batch_norm = on; }
bool sync_batch_norm() { return g_sync_batch_norm; }

torch::Tensor BatchNorm2dImpl::forward(const torch::Tensor& x) {
  if (folded) return x;
  if (is_training()) {
    torch::NoGradGuard no_grad;
    num_batches_tracked.add_(1);
  }
  if (is_training() && g_sync_batch_norm && world() && world()->size() > 1) return synchronised_batch_norm(*this, x);
  // One value per channel has no variance: torch would put NaN into the running variance (PyTorch
  // refuses it in Python); typically a last batch of one image reaching a global-pooling branch.
  if (is_training() && x.dim() == 4 && x.size(0) * x.size(2) * x.size(3) == 1)
    fail("batch norm needs more than one value per channel in training, got a batch of 1 at 1x1 (a last batch of one image "
         "reaching a pooling branch?); use train.drop_last: true or a batch size that leaves no single image");
  return torch::batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum, eps,
                           at::globalContext().userEnabledCuDNN());
}

BatchNorm2d batch_norm(std::int64_t channels, double momentum) { return BatchNorm2d(channels, momentum, 1e-5); }

BatchNorm2d batch_norm(const Conv2d& input, double momentum) {
  BatchNorm2d bn(input->options.out_channels(), momentum, 1e-5);
  bn->input = input.ptr();
  return bn;
}

BatchNorm2d batch_norm(const ConvTranspose2d& input, double momentum) {
  BatchNorm2d bn(input->options.out_channels(), momentum, 1e-5);
  bn->transposed_input = input.ptr();
  return bn;
}

std::int64_t scaled(std::int64_t channels, double width) {
  return std::max<std::int64_t>(1, std::llround(static_cast<double>(channels) * width));
}

torch::Tensor upsample(const torch::Tensor& x, std::int64_t height, std::int64_t width) {
  if (x.size(2) == height && x.size(3) == width) return x;
  namespace F = torch::nn::functional;
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<std::int64_t>{height, width})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

namespace {

torch::nn::Sequential make_downsample(std::int64_t in, std::int64_t out, std::int64_t stride, double momentum) {
  torch::nn::Sequential s;
  Conv2d c = conv(in, out, 1, stride);
  s->push_back(c);
  s->push_back(batch_norm(c, momentum));
  return s;
}

}  // namespace

BasicBlockImpl::BasicBlockImpl(std::int64_t inplanes, std::int64_t planes, std::int64_t stride, std::int64_t dilation_first,
                               std::int64_t dilation, bool downsample, double bn_momentum) {
  conv1 = register_module("conv1", conv(inplanes, planes, 3, stride, dilation_first, dilation_first));
  bn1 = register_module("bn1", batch_norm(conv1, bn_momentum));
  conv2 = register_module("conv2", conv(planes, planes, 3, 1, dilation, dilation));
  bn2 = register_module("bn2", batch_norm(conv2, bn_momentum));
  if (downsample) downsample_ = register_module("downsample", make_downsample(inplanes, planes, stride, bn_momentum));
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = bn1(conv1(x)).relu_();
  out = bn2(conv2(out));
  out += downsample_ ? downsample_->forward(x) : x;
  return out.relu_();
}

BottleneckImpl::BottleneckImpl(std::int64_t inplanes, std::int64_t planes, std::int64_t stride, std::int64_t dilation_first,
                               std::int64_t /*dilation*/, bool downsample, double bn_momentum) {
  conv1 = register_module("conv1", conv(inplanes, planes, 1));
  bn1 = register_module("bn1", batch_norm(conv1, bn_momentum));
  conv2 = register_module("conv2", conv(planes, planes, 3, stride, dilation_first, dilation_first));
  bn2 = register_module("bn2", batch_norm(conv2, bn_momentum));
  conv3 = register_module("conv3", conv(planes, planes * kExpansion, 1));
  bn3 = register_module("bn3", batch_norm(conv3, bn_momentum));
  if (downsample)
    downsample_ = register_module("downsample", make_downsample(inplanes, planes * kExpansion, stride, bn_momentum));
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = bn1(conv1(x)).relu_();
  out = bn2(conv2(out)).relu_();
  out = bn3(conv3(out));
  out += downsample_ ? downsample_->forward(x) : x;
  return out.relu_();
}

void IndexedImpl::set(std::size_t index, std::shared_ptr<torch::nn::Module> module) {
  children_.at(index) = module;
  register_module(std::to_string(index), module);
}

void init_resnet_style(torch::nn::Module& module) {
  torch::NoGradGuard guard;
  for (auto& m : module.modules(/*include_self=*/false)) {
    if (auto* c = dynamic_cast<torch::nn::Conv2dImpl*>(m.get())) {
      torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
      if (c->bias.defined()) c->bias.zero_();
    } else if (auto* b = dynamic_cast<BatchNorm2dImpl*>(m.get())) {
      b->weight.fill_(1.0);
      b->bias.zero_();
    }
  }
}

}  // namespace densemtl::models
