#include "densemtl/vision/io/image.h"

#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstring>
#include <mutex>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"

namespace densemtl::image {

void quiet_opencv() {
  static std::once_flag once;
  std::call_once(once, [] { cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT); });
}

namespace {

// Container-level integrity checks: OpenCV decodes many truncated files without complaint.
void check_container(const std::string& bytes, const fs::path& path) {
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t n = bytes.size();
  if (n == 0) fail("{}: empty file", path.string());
  if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) {
    // JPEG: must end with the EOI marker (allowing a little trailing padding).
    std::size_t tail = std::min<std::size_t>(n, 64);
    bool eoi = false;
    for (std::size_t i = n - tail; i + 1 < n; ++i)
      if (b[i] == 0xFF && b[i + 1] == 0xD9) eoi = true;
    if (!eoi) fail("{}: corrupt JPEG (truncated: no end-of-image marker)", path.string());
  } else if (n >= 8 && std::memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) {
    std::size_t tail = std::min<std::size_t>(n, 32);
    bool iend = false;
    for (std::size_t i = n - tail; i + 4 <= n; ++i)
      if (std::memcmp(b + i, "IEND", 4) == 0) iend = true;
    if (!iend) fail("{}: corrupt PNG (truncated: no IEND chunk)", path.string());
  }
}

cv::Mat decode(const fs::path& path, int flags) {
  quiet_opencv();
  std::string bytes = read_file(path);
  check_container(bytes, path);
  cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8U, bytes.data());
  cv::Mat img;
  try {
    img = cv::imdecode(raw, flags);
  } catch (const cv::Exception& e) {
    fail("{}: cannot decode image ({})", path.string(), trim(e.err));
  }
  if (img.empty()) fail("{}: corrupt or unsupported image file", path.string());
  return img;
}

}  // namespace

cv::Mat read_rgb(const fs::path& path) {
  cv::Mat img = decode(path, cv::IMREAD_COLOR);
  cv::cvtColor(img, img, cv::COLOR_BGR2RGB);
  return img;
}

cv::Mat read_gray(const fs::path& path) {
  cv::Mat img = decode(path, cv::IMREAD_UNCHANGED);
  if (img.channels() == 3 || img.channels() == 4) {
    // Palette PNGs and grey images saved as RGB: accept when all channels are equal.
    std::vector<cv::Mat> ch;
    cv::split(img, ch);
    if (cv::countNonZero(ch[0] != ch[1]) || cv::countNonZero(ch[0] != ch[2]))
      fail("{}: expected a single-channel label image, got {} channels", path.string(), img.channels());
    img = ch[0];
  }
  if (img.channels() != 1) fail("{}: expected a single-channel image, got {} channels", path.string(), img.channels());
  return img;
}

cv::Mat read_unchanged(const fs::path& path) { return decode(path, cv::IMREAD_UNCHANGED); }

std::string encode(const std::string& ext, const cv::Mat& image, int jpeg_quality) {
  quiet_opencv();
  std::vector<int> params;
  std::string e = lower(ext);
  if (e == ".jpg" || e == ".jpeg") params = {cv::IMWRITE_JPEG_QUALITY, jpeg_quality};
  if (e == ".png") params = {cv::IMWRITE_PNG_COMPRESSION, 3};
  std::vector<unsigned char> buf;
  bool ok = false;
  try {
    ok = cv::imencode(e, image, buf, params);
  } catch (const cv::Exception& ex) {
    fail("cannot encode {} image: {}", e, trim(ex.err));
  }
  if (!ok) fail("cannot encode {} image", e);
  return std::string(buf.begin(), buf.end());
}

void write(const fs::path& path, const cv::Mat& image, int jpeg_quality) {
  std::string bytes = with_context(path.string(), [&] { return encode(path.extension().string(), image, jpeg_quality); });
  write_file_atomic(path, bytes);
}

void write_rgb(const fs::path& path, const cv::Mat& rgb, int jpeg_quality) {
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  write(path, bgr, jpeg_quality);
}

}  // namespace densemtl::image
