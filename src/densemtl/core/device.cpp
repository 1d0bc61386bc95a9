#include "densemtl/core/device.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "densemtl/core/error.h"

namespace densemtl {

c10::Device select_device(const std::string& name, const std::string& where) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available())
      fail("{}: device: cuda requested, but this LibTorch has no usable CUDA device (build against a CUDA LibTorch, see the README)", where);
    at::globalContext().setBenchmarkCuDNN(true);
    if (name == "cuda") return c10::Device(c10::kCUDA);
    // cuda:N (one GPU per process of a multi-process run)
    c10::Device d(name);
    if (d.index() >= static_cast<int>(torch::cuda::device_count()))
      fail("{}: device {} requested, but there are {} CUDA devices", where, name, torch::cuda::device_count());
    return d;
  }
  fail("{}: device: unknown device '{}' (cpu, cuda)", where, name);
}

Autocast::Autocast(bool enabled, const c10::Device& device) : enabled_(enabled && device.is_cuda()) {
  if (!enabled_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
  at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
  at::autocast::set_enabled(true);
#endif
}

Autocast::~Autocast() {
  if (!enabled_) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
  at::autocast::set_enabled(false);
#endif
  at::autocast::clear_cache();
}

at::Tensor to_model_layout(const at::Tensor& image, bool channels_last) {
  return channels_last ? image.contiguous(at::MemoryFormat::ChannelsLast) : image;
}

}  // namespace densemtl
