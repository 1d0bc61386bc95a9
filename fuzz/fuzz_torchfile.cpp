// libFuzzer target: files written by Python's torch.save (the zip container and the legacy stream
// format) through densemtl's unpickler, as weight loading reads them.
#include "densemtl/models/torch_file.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace densemtl;
  const fs::path file = fuzz::input_file(data, size, ".pt");
  fuzz::expect_clean([&] { torchfile::tensors(torchfile::load(file)); });
  fuzz::expect_clean([&] { torchfile::load_state_dict(file); });
  return 0;
}
