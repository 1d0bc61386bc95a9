#include "densemtl/vision/io/npy.h"

#include <cstring>
#include <numeric>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"

namespace densemtl::npy {

std::size_t Array::numel() const {
  std::size_t n = 1;
  for (auto d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

namespace {

const char kMagic[] = "\x93NUMPY";

// Bytes per item of a descr such as '<f4' (0 when it is not 1, 2, 4 or 8).
std::size_t item_size(const std::string& descr) {
  if (descr.size() != 3) return 0;
  const char c = descr[2];
  return c == '1' || c == '2' || c == '4' || c == '8' ? static_cast<std::size_t>(c - '0') : 0;
}

// Finds the value text after 'key': in a numpy header dict.
std::string header_value(const std::string& header, const std::string& key, const fs::path& path) {
  std::size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) k = header.find("\"" + key + "\"");
  if (k == std::string::npos) fail("{}: .npy header has no '{}'", path.string(), key);
  std::size_t colon = header.find(':', k);
  if (colon == std::string::npos) fail("{}: malformed .npy header", path.string());
  std::size_t start = colon + 1;
  while (start < header.size() && header[start] == ' ') ++start;
  std::size_t end = start;
  if (header[start] == '(') {
    end = header.find(')', start);
    if (end == std::string::npos) fail("{}: malformed shape in .npy header", path.string());
    return header.substr(start, end - start + 1);
  }
  while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
  return trim(header.substr(start, end - start));
}

}  // namespace

Array read(const fs::path& path) {
  std::string bytes = read_file(path);
  const std::string where = path.string();
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0)
    fail("{}: not a .npy file (bad magic)", where);
  unsigned major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_len, offset;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail("{}: truncated .npy header", where);
    header_len = 0;
    for (int i = 3; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[8 + static_cast<std::size_t>(i)]);
    offset = 12;
  } else {
    fail("{}: unsupported .npy format version {}", where, major);
  }
  if (bytes.size() < offset + header_len) fail("{}: truncated .npy header", where);
  std::string header = bytes.substr(offset, header_len);

  Array a;
  std::string descr = header_value(header, "descr", path);
  if (descr.size() >= 2 && (descr.front() == '\'' || descr.front() == '"')) descr = descr.substr(1, descr.size() - 2);
  if (descr.size() >= 2 && descr[0] == '>' && descr.substr(1) != "u1" && descr.substr(1) != "i1")
    fail("{}: big-endian dtype '{}' is not supported", where, descr);
  if (descr.size() >= 1 && descr[0] == '=') descr[0] = '<';
  a.descr = descr;
  std::string fortran = header_value(header, "fortran_order", path);
  if (fortran == "True") fail("{}: Fortran-ordered arrays are not supported (save with C order)", where);
  std::string shape = header_value(header, "shape", path);
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')') fail("{}: bad shape '{}' in .npy header", where, shape);
  for (const auto& part : split(shape.substr(1, shape.size() - 2), ',')) {
    std::string t = trim(part);
    if (t.empty()) continue;
    std::size_t used = 0;
    long long d = -1;
    try {
      d = std::stoll(t, &used);
    } catch (...) {
    }
    if (d < 0 || used != t.size()) fail("{}: bad shape '{}' in .npy header", where, shape);
    a.shape.push_back(d);
  }
  std::size_t isize = item_size(a.descr);
  char kind = a.descr.size() > 1 ? a.descr[1] : '?';
  if (isize == 0 || (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b'))
    fail("{}: unsupported dtype '{}'", where, a.descr);
  // The data size, without overflow: any product beyond what the file holds is truncation.
  const std::size_t have = bytes.size() - offset - header_len;
  std::size_t need = isize;
  for (std::int64_t d : a.shape) {
    if (d != 0 && need > have / static_cast<std::size_t>(d))
      fail("{}: truncated .npy data (shape {} needs more than the {} bytes in the file)", where, shape, have);
    need *= static_cast<std::size_t>(d);
  }
  if (have < need) fail("{}: truncated .npy data ({} of {} bytes)", where, have, need);
  a.data = bytes.substr(offset + header_len, need);
  return a;
}

void write(const fs::path& path, const Array& a) {
  std::string shape = "(";
  for (std::size_t i = 0; i < a.shape.size(); ++i) shape += std::to_string(a.shape[i]) + ", ";
  if (a.shape.size() > 1) shape.resize(shape.size() - 2);
  else if (a.shape.size() == 1) shape.resize(shape.size() - 1);
  shape += ")";
  std::string header = "{'descr': '" + a.descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  std::size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::string out(kMagic, 6);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out += a.data;
  write_file_atomic(path, out);
}

namespace {

template <typename T>
void convert(const std::string& data, float* out, std::size_t n) {
  const T* in = reinterpret_cast<const T*>(data.data());
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(in[i]);
}

float half_to_float(std::uint16_t h) {
  std::uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  std::uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) { mant <<= 1; --exp; }
      mant &= 0x3ff;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

namespace {

cv::Mat to_mat(const Array& a, const fs::path& path, int channels, bool allow_trailing_1);

}  // namespace

cv::Mat read_mat(const fs::path& path, int channels, bool allow_trailing_1) { return to_mat(read(path), path, channels, allow_trailing_1); }

cv::Mat read_float_mat(const fs::path& path, int channels, const std::string& what) {
  Array a = read(path);
  const std::string t = a.descr.substr(1);
  if (t != "f2" && t != "f4" && t != "f8")
    fail("{}: {} stored as dtype '{}'; expected floating point ({}; convert it, e.g. with astype(np.float32), "
         "and scale integer units such as millimetres)",
         path.string(), what, a.descr, what == "depth" ? "metres" : "unit vectors");
  return to_mat(a, path, channels, true);
}

namespace {

cv::Mat to_mat(const Array& a, const fs::path& path, int channels, bool allow_trailing_1) {
  const std::string where = path.string();
  std::vector<std::int64_t> s = a.shape;
  auto shape_text = [&]() {
    std::vector<std::string> p;
    for (auto d : a.shape) p.push_back(std::to_string(d));
    return "(" + join(p, ", ") + ")";
  };
  if (channels == 1 && s.size() == 3 && s[2] == 1 && allow_trailing_1) s.pop_back();
  if (channels == 1 && s.size() == 3 && s[0] == 1 && allow_trailing_1) s.erase(s.begin());
  bool ok = channels == 1 ? s.size() == 2 : (s.size() == 3 && s[2] == channels);
  if (!ok) {
    fail("{}: expected an array of shape {}, got {}", where,
         channels == 1 ? std::string("(H, W)") : fmt::format("(H, W, {})", channels), shape_text());
  }
  if (s[0] <= 0 || s[1] <= 0) fail("{}: empty array of shape {}", where, shape_text());
  cv::Mat m(static_cast<int>(s[0]), static_cast<int>(s[1]), CV_32FC(channels));
  float* out = m.ptr<float>();
  std::size_t n = a.numel();
  const std::string& d = a.descr;
  std::string t = d.substr(1);
  if (t == "f4") convert<float>(a.data, out, n);
  else if (t == "f8") convert<double>(a.data, out, n);
  else if (t == "f2") {
    const auto* in = reinterpret_cast<const std::uint16_t*>(a.data.data());
    for (std::size_t i = 0; i < n; ++i) out[i] = half_to_float(in[i]);
  } else if (t == "u1" || t == "b1") convert<std::uint8_t>(a.data, out, n);
  else if (t == "i1") convert<std::int8_t>(a.data, out, n);
  else if (t == "u2") convert<std::uint16_t>(a.data, out, n);
  else if (t == "i2") convert<std::int16_t>(a.data, out, n);
  else if (t == "i4") convert<std::int32_t>(a.data, out, n);
  else if (t == "u4") convert<std::uint32_t>(a.data, out, n);
  else if (t == "i8") convert<std::int64_t>(a.data, out, n);
  else if (t == "u8") convert<std::uint64_t>(a.data, out, n);
  else fail("{}: unsupported dtype '{}'", where, d);
  return m;
}

}  // namespace

void write_mat(const fs::path& path, const cv::Mat& mat) {
  cv::Mat m = mat.isContinuous() ? mat : mat.clone();
  Array a;
  switch (m.depth()) {
    case CV_32F: a.descr = "<f4"; break;
    case CV_64F: a.descr = "<f8"; break;
    case CV_8U: a.descr = "|u1"; break;
    case CV_16U: a.descr = "<u2"; break;
    case CV_32S: a.descr = "<i4"; break;
    default: fail("{}: cannot write this matrix type as .npy", path.string());
  }
  a.shape = {m.rows, m.cols};
  if (m.channels() > 1) a.shape.push_back(m.channels());
  a.data.assign(reinterpret_cast<const char*>(m.data), m.total() * m.elemSize());
  write(path, a);
}

}  // namespace densemtl::npy
