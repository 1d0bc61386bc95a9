// Device selection and per-device settings: CUDA when asked (and available), cuDNN autotuning,
// bf16 autocast for mixed precision. Works with a CPU-only LibTorch (CUDA then gives a clear
// error) and with PyTorch 2.x's CUDA builds.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <string>

namespace densemtl {

// "cpu" or "cuda" -> a device; cuda without a usable GPU is a densemtl::Error naming `where`.
c10::Device select_device(const std::string& name, const std::string& where);

// Mixed precision for the scope of the object (bf16 autocast on CUDA); does nothing when off.
class Autocast {
 public:
  Autocast(bool enabled, const c10::Device& device);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool enabled_;
};

// A network input in the memory order the model expects.
at::Tensor to_model_layout(const at::Tensor& image, bool channels_last);

}  // namespace densemtl
