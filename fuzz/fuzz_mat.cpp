// libFuzzer target: MATLAB .mat files (PASCAL-Context labels, parts annotations) through matio and
// densemtl's checks: the variable list, a numeric matrix, a structure's fields.
#include "densemtl/vision/io/mat.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace densemtl;
  const fs::path file = fuzz::input_file(data, size, ".mat");
  fuzz::expect_clean([&] { matfile::variables(file); });
  fuzz::expect_clean([&] { matfile::read_matrix(file, "LabelMap"); });
  fuzz::expect_clean([&] {
    matfile::Value anno = matfile::read(file, "anno");
    const matfile::Value& objects = anno.field("objects");
    for (std::size_t i = 0; i < objects.count(); ++i)
      if (objects.has_field("class")) objects.field("class", i);
  });
  return 0;
}
