#include "densemtl/vision/io/image.h"

#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
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

bool is_palette_png(const std::string& bytes) {
  // The IHDR chunk follows the 8-byte signature: length (4), "IHDR" (4), width, height (4 + 4), bit
  // depth (1), colour type (1): 3 is a palette.
  return bytes.size() > 25 && std::memcmp(bytes.data(), "\x89PNG\r\n\x1a\n", 8) == 0 && std::memcmp(bytes.data() + 12, "IHDR", 4) == 0 &&
         static_cast<unsigned char>(bytes[25]) == 3;
}

struct PngSource {
  const std::string* bytes;
  std::size_t at;
  char error[200];
};

extern "C" void png_read_memory(png_structp png, png_bytep out, png_size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (src->at + n > src->bytes->size()) png_error(png, "unexpected end of data");
  std::memcpy(out, src->bytes->data() + src->at, n);
  src->at += n;
}

extern "C" void png_on_error(png_structp png, png_const_charp message) {
  auto* src = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(src->error, sizeof src->error, "%s", message);
  png_longjmp(png, 1);
}

extern "C" void png_on_warning(png_structp, png_const_charp) {}

// A palette PNG as a label: with a colour palette (PASCAL VOC's class maps) the palette indices,
// the class of each pixel, which OpenCV would expand into colours; with a grey palette (a grey
// image stored with a palette) the grey values. False, with `error` set, on a bad file. libpng
// reports errors by longjmp: no object with a destructor lives between setjmp and its end.
bool decode_palette_label(const std::string& bytes, cv::Mat& out, std::string& error) {
  PngSource src{&bytes, 0, {0}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) {
    png_destroy_read_struct(&png, &info, nullptr);
    error = "out of memory";
    return false;
  }
  png_bytep* volatile rows = nullptr;  // volatile: changed after setjmp and read after a longjmp
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    std::free(rows);
    error = src.error;
    return false;
  }
  png_set_read_fn(png, &src, png_read_memory);
  png_read_info(png, info);
  const png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
  if (png_get_color_type(png, info) != PNG_COLOR_TYPE_PALETTE) png_error(png, "not a palette image");
  if (width == 0 || height == 0 || width > 65535 || height > 65535) png_error(png, "image size out of range");
  if (png_get_bit_depth(png, info) < 8) png_set_packing(png);  // one index per byte
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  out.create(static_cast<int>(height), static_cast<int>(width), CV_8U);
  rows = static_cast<png_bytep*>(std::malloc(sizeof(png_bytep) * height));
  if (!rows) png_error(png, "out of memory");
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = out.ptr<png_byte>(static_cast<int>(y));
  png_read_image(png, rows);
  png_read_end(png, nullptr);
  std::free(rows);
  rows = nullptr;
  png_colorp palette = nullptr;
  int entries = 0;
  png_get_PLTE(png, info, &palette, &entries);
  bool grey = entries > 0;
  unsigned char value[256] = {0};
  for (int i = 0; i < entries && i < 256; ++i) {
    grey = grey && palette[i].red == palette[i].green && palette[i].green == palette[i].blue;
    value[i] = palette[i].red;
  }
  png_destroy_read_struct(&png, &info, nullptr);
  if (grey) {
    cv::Mat lut(1, 256, CV_8U, value);
    cv::LUT(out, lut, out);
  }
  return true;
}

}  // namespace

cv::Mat read_rgb(const fs::path& path) {
  cv::Mat img = decode(path, cv::IMREAD_COLOR);
  cv::cvtColor(img, img, cv::COLOR_BGR2RGB);
  return img;
}

cv::Mat read_gray(const fs::path& path) {
  {
    // A colour-palette PNG's pixels are its palette indices (a label's classes), not their colours.
    const std::string bytes = read_file(path);
    if (is_palette_png(bytes)) {
      check_container(bytes, path);
      cv::Mat indices;
      std::string error;
      if (!decode_palette_label(bytes, indices, error)) fail("{}: corrupt palette PNG ({})", path.string(), error);
      return indices;
    }
  }
  cv::Mat img = decode(path, cv::IMREAD_UNCHANGED);
  if (img.channels() == 3 || img.channels() == 4) {
    // Grey images saved as RGB: accept when all channels are equal.
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
