// libFuzzer target: .npy arrays (header, dtype, shape, data size) through the readers datasets use.
#include "densemtl/vision/io/npy.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace densemtl;
  const fs::path file = fuzz::input_file(data, size, ".npy");
  fuzz::expect_clean([&] { npy::read_mat(file, 1); });
  fuzz::expect_clean([&] { npy::read_mat(file, 3); });
  fuzz::expect_clean([&] { npy::read_float_mat(file, 1, "depth"); });
  return 0;
}
