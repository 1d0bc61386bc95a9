// NumPy .npy files (format versions 1.0, 2.0 and 3.0 read; 1.0 written), little-endian, C order.
// Hand-written: the format is a short text header plus raw data, and we want errors that name the
// file and say exactly what is wrong (shape, dtype, truncation).
#pragma once

#include <opencv2/core.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "densemtl/core/fs.h"

namespace densemtl::npy {

struct Array {
  std::string descr;                 // numpy dtype string, e.g. "<f4"
  std::vector<std::int64_t> shape;
  std::string data;                  // raw bytes in C order
  std::size_t numel() const;
};

Array read(const fs::path& path);
void write(const fs::path& path, const Array& array);

// Reads an H x W or H x W x C array (C in `channels`, e.g. {3}) of any real dtype as float32
// (CV_32FC1 / CV_32FC3). `allow_trailing_1` also accepts H x W x 1 for single-channel data.
cv::Mat read_mat(const fs::path& path, int channels, bool allow_trailing_1 = true);

// The same for a physical quantity (depth in metres, unit normals): integer dtypes are an error
// naming the file and the dtype, since converting them silently hides a unit (millimetres) or a
// quantisation the reader cannot know.
cv::Mat read_float_mat(const fs::path& path, int channels, const std::string& what);
// Writes a CV_32F / CV_8U / CV_16U / CV_32S / CV_64F Mat as H x W (1 channel) or H x W x C.
void write_mat(const fs::path& path, const cv::Mat& mat);

}  // namespace densemtl::npy
