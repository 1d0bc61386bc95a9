// What the fuzz targets share: the readers take paths, so each input is written to a file of this
// process first; a densemtl::Error (a one-line message about a bad file) is the expected outcome of
// a bad input, anything else (another exception, a sanitizer report, a crash) is a finding.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "densemtl/core/error.h"
#include "densemtl/core/fs.h"

namespace densemtl::fuzz {

inline fs::path input_file(const std::uint8_t* data, std::size_t size, const std::string& extension) {
  static const fs::path path = fs::temp_directory_path() / ("densemtl_fuzz_" + std::to_string(::getpid()) + extension);
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

template <class F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const Error&) {
  }
}

}  // namespace densemtl::fuzz
