#include "densemtl/models/heads/deeplab.h"

#include "densemtl/core/collective.h"

namespace densemtl::models {

namespace {

torch::nn::Sequential conv_bn_relu(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t dilation) {
  torch::nn::Sequential s;
  Conv2d c = conv(in, out, kernel, 1, kernel == 3 ? dilation : 0, dilation);
  s->push_back(c);
  s->push_back(batch_norm(c));
  s->push_back(torch::nn::ReLU());
  return s;
}

// Dropout (torch.nn.Dropout's: zero with probability p, scale the rest by 1 / (1 - p)) whose mask
// does not depend on how the batch is split over processes: every process draws the mask of the
// whole batch (the same draws from the same generator state) and keeps its own rows, so a
// multi-process run drops what one process would on the global batch (core/collective.h).
// (A torch::nn::Dropout, whose options.p it reads.)
class BatchDropoutImpl : public torch::nn::DropoutImpl {
 public:
  using torch::nn::DropoutImpl::DropoutImpl;
  torch::Tensor forward(const torch::Tensor& x) {
    const double p = options.p();
    if (!is_training() || p == 0) return x;
    const std::int64_t n = world() ? world()->size() : 1, rank = world() ? world()->rank() : 0;
    std::vector<std::int64_t> shape = x.sizes().vec();
    shape[0] *= n;
    torch::Tensor noise = torch::empty(shape, x.options().memory_format(c10::MemoryFormat::Contiguous));
    noise.bernoulli_(1 - p).div_(1 - p);
    return x * noise.narrow(0, rank * x.size(0), x.size(0));
  }
};
TORCH_MODULE(BatchDropout);

}  // namespace

AsppPoolingImpl::AsppPoolingImpl(std::int64_t in, std::int64_t out) {
  // Index 0 of the reference's Sequential is the (parameter-free) AdaptiveAvgPool2d.
  conv = register_module("1", models::conv(in, out, 1));
  bn = register_module("2", batch_norm(conv));
}

torch::Tensor AsppPoolingImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::adaptive_avg_pool2d(x, {1, 1});
  y = torch::relu(bn(conv(y)));
  return upsample(y, x.size(2), x.size(3));
}

AsppImpl::AsppImpl(std::int64_t in, std::int64_t out, const std::vector<std::int64_t>& rates) {
  convs = register_module("convs", torch::nn::ModuleList());
  convs->push_back(conv_bn_relu(in, out, 1, 1));
  for (auto r : rates) convs->push_back(conv_bn_relu(in, out, 3, r));
  convs->push_back(AsppPooling(in, out));
  n_ = convs->size();
  project = torch::nn::Sequential();
  Conv2d projection = conv(out * static_cast<std::int64_t>(n_), out, 1);
  project->push_back(projection);
  project->push_back(batch_norm(projection));
  project->push_back(torch::nn::ReLU());
  project->push_back(BatchDropout(0.5));
  register_module("project", project);
}

torch::Tensor AsppImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> parts;
  for (std::size_t i = 0; i + 1 < n_; ++i) parts.push_back(convs[i]->as<torch::nn::SequentialImpl>()->forward(x));
  parts.push_back(convs[n_ - 1]->as<AsppPoolingImpl>()->forward(x));
  return project->forward(torch::cat(parts, 1));
}

DeepLabHeadImpl::DeepLabHeadImpl(std::int64_t in, std::int64_t outputs, double width) {
  const std::int64_t c = scaled(256, width);
  aspp = register_module("0", Aspp(in, c, std::vector<std::int64_t>{12, 24, 36}));
  conv = register_module("1", models::conv(c, c, 3, 1, 1));
  bn = register_module("2", batch_norm(conv));
  classifier = register_module("4", models::conv(c, outputs, 1, 1, 0, 1, true));
}

HeadOutput DeepLabHeadImpl::forward_with_features(const Features& features) {
  torch::Tensor x = torch::relu(bn(conv(aspp(features.back()))));
  return {classifier(x), x};
}

}  // namespace densemtl::models
