// Reading files written by Python's torch.save, without Python: the zip container (PyTorch >= 1.6)
// and the legacy stream format older weight files use (HRNet's ImageNet weights among them).
// LibTorch 1.13's own torch::pickle_load reads neither an OrderedDict state dict (it becomes
// None) nor the legacy format, so densemtl carries a small unpickler for the subset of pickle
// that torch.save emits: containers, numbers, strings, OrderedDict, tensors
// (_rebuild_tensor_v2 / _rebuild_parameter over persistent storages). Anything else (e.g. an
// optimizer's custom objects) is kept as an opaque object and ignored by the tensor extraction.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "densemtl/core/fs.h"

namespace densemtl::torchfile {

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Value {
  enum class Kind { None, Bool, Int, Float, String, Bytes, List, Tuple, Dict, Tensor, Global, Object };
  Kind kind = Kind::None;
  bool boolean = false;
  std::int64_t integer = 0;
  double number = 0;
  std::string text;                                    // String, Bytes, Global ("module.name")
  std::vector<ValuePtr> items;                         // List, Tuple; Object: its arguments
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;  // Dict, in insertion order
  at::Tensor tensor;
  ValuePtr callable;                                   // Object: what built it

  const ValuePtr* find(const std::string& key) const;  // Dict lookup by string key
  std::string describe() const;
};

// Loads a torch.save file (either container).
ValuePtr load(const fs::path& path);

// Every tensor reachable through dicts (keys joined with '.'), in file order. Non-tensor values
// are skipped.
std::vector<std::pair<std::string, at::Tensor>> tensors(const ValuePtr& root);

// The state dict in a file as users have them: a plain state dict, or a checkpoint dict holding
// one under "state_dict", "model" or "model_state_dict"; a "module." prefix (DataParallel /
// DistributedDataParallel) is stripped from every name.
std::vector<std::pair<std::string, at::Tensor>> load_state_dict(const fs::path& path);

}  // namespace densemtl::torchfile
