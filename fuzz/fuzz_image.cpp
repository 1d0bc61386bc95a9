// libFuzzer target: PNG and JPEG files through the image loader (container checks, then OpenCV).
#include "densemtl/vision/io/image.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace densemtl;
  const fs::path file = fuzz::input_file(data, size, ".img");
  fuzz::expect_clean([&] { image::read_rgb(file); });
  fuzz::expect_clean([&] { image::read_gray(file); });
  return 0;
}
