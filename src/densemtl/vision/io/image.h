// Image files through OpenCV, with checks OpenCV does not make: a missing file, a truncated JPEG
// or PNG, or a file that is not an image is a densemtl::Error naming the file.
#pragma once

#include <opencv2/core.hpp>

#include "densemtl/core/fs.h"

namespace densemtl::image {

// 8-bit RGB (CV_8UC3, R first). Grey images are expanded to three channels.
cv::Mat read_rgb(const fs::path& path);
// A single-channel image as stored (CV_8U or CV_16U). Colour files are rejected.
cv::Mat read_gray(const fs::path& path);
// As stored (any depth and channel count; colour is BGR as OpenCV reads it).
cv::Mat read_unchanged(const fs::path& path);

// Writes atomically; the format follows the extension (.png, .jpg). `jpeg_quality` for JPEG.
void write(const fs::path& path, const cv::Mat& image, int jpeg_quality = 95);
// Writes an RGB image (converts to OpenCV's BGR order first).
void write_rgb(const fs::path& path, const cv::Mat& rgb, int jpeg_quality = 95);

// Encodes to bytes in the format of `ext` (".png", ".jpg").
std::string encode(const std::string& ext, const cv::Mat& image, int jpeg_quality = 95);

// Silences OpenCV's own log lines (our errors say what went wrong instead).
void quiet_opencv();

}  // namespace densemtl::image
