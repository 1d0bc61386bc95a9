// libFuzzer target: split files (one id per line).
#include "densemtl/data/dataset.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace densemtl;
  const fs::path file = fuzz::input_file(data, size, ".txt");
  fuzz::expect_clean([&] { data::read_id_list(file); });
  return 0;
}
