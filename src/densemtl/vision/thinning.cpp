#include "densemtl/vision/thinning.h"

#include <vector>

namespace densemtl::vision {

namespace {

struct Luts {
  std::array<std::uint8_t, 256> first{}, second{};
  Luts() {
    for (int code = 0; code < 256; ++code) {
      // x[1..8]; x[9] = x[1] so that x_{2k+1} wraps around.
      bool x[10];
      for (int k = 1; k <= 8; ++k) x[k] = (code >> (k - 1)) & 1;
      x[9] = x[1];
      // G1: the crossing number X_H(p) == 1.
      int xh = 0;
      for (int i = 1; i <= 4; ++i) xh += (!x[2 * i - 1] && (x[2 * i] || x[2 * i + 1])) ? 1 : 0;
      bool g1 = xh == 1;
      // G2: 2 <= min(n1, n2) <= 3.
      int n1 = 0, n2 = 0;
      for (int k = 1; k <= 4; ++k) {
        n1 += (x[2 * k - 1] || x[2 * k]) ? 1 : 0;
        n2 += (x[2 * k] || x[2 * k + 1]) ? 1 : 0;
      }
      int m = n1 < n2 ? n1 : n2;
      bool g2 = m >= 2 && m <= 3;
      // G3: (x2 | x3 | !x8) & x1 == 0;  G3': (x6 | x7 | !x4) & x5 == 0.
      bool g3 = !((x[2] || x[3] || !x[8]) && x[1]);
      bool g3p = !((x[6] || x[7] || !x[4]) && x[5]);
      first[static_cast<std::size_t>(code)] = g1 && g2 && g3;
      second[static_cast<std::size_t>(code)] = g1 && g2 && g3p;
    }
  }
};

const Luts& luts() {
  static const Luts l;
  return l;
}

}  // namespace

const std::array<std::uint8_t, 256>& thin_lut_first() { return luts().first; }
const std::array<std::uint8_t, 256>& thin_lut_second() { return luts().second; }

cv::Mat thin(const cv::Mat& binary, int max_iterations) {
  CV_Assert(binary.type() == CV_8UC1);
  const int h = binary.rows, w = binary.cols;
  const int pw = w + 2;
  // Padded copy: a zero border stands for "outside the image".
  std::vector<std::uint8_t> img(static_cast<std::size_t>((h + 2) * pw), 0);
  for (int y = 0; y < h; ++y) {
    const std::uint8_t* row = binary.ptr<std::uint8_t>(y);
    std::uint8_t* dst = img.data() + (y + 1) * pw + 1;
    for (int x = 0; x < w; ++x) dst[x] = row[x] ? 1 : 0;
  }
  // Offsets of x1..x8: E, NE, N, NW, W, SW, S, SE.
  const int off[8] = {1, -pw + 1, -pw, -pw - 1, -1, pw - 1, pw, pw + 1};
  // Candidates: G1 (X_H = 1) needs a background 4-neighbour, so only foreground pixels with one
  // can be deleted, and a pixel gains one only when a neighbour is deleted. The candidate list
  // holds every such pixel (the border, plus neighbours of each deletion), so each subiteration
  // examines the border rather than the whole foreground, with the same result.
  std::vector<int> candidates;
  std::vector<std::uint8_t> listed(img.size(), 0);
  for (int y = 1; y <= h; ++y)
    for (int x = 1; x <= w; ++x) {
      int idx = y * pw + x;
      const std::uint8_t* p = img.data() + idx;
      if (*p && (!p[off[0]] || !p[off[2]] || !p[off[4]] || !p[off[6]])) {
        candidates.push_back(idx);
        listed[static_cast<std::size_t>(idx)] = 1;
      }
    }
  const auto& l = luts();
  std::vector<int> remove, next;
  for (int iter = 0; max_iterations < 0 || iter < max_iterations; ++iter) {
    bool changed = false;
    for (int sub = 0; sub < 2; ++sub) {
      const auto& lut = sub == 0 ? l.first : l.second;
      remove.clear();
      for (int idx : candidates) {
        const std::uint8_t* p = img.data() + idx;
        int code = 0;
        for (int k = 0; k < 8; ++k) code |= p[off[k]] << k;
        if (lut[static_cast<std::size_t>(code)]) remove.push_back(idx);
      }
      if (remove.empty()) continue;
      changed = true;
      for (int idx : remove) img[static_cast<std::size_t>(idx)] = 0;
      // Next candidates: the surviving ones and the foreground neighbours of deleted pixels.
      next.clear();
      for (int idx : candidates) {
        if (img[static_cast<std::size_t>(idx)]) next.push_back(idx);
        else listed[static_cast<std::size_t>(idx)] = 0;
      }
      for (int idx : remove)
        for (int k = 0; k < 8; ++k) {
          int n = idx + off[k];
          if (img[static_cast<std::size_t>(n)] && !listed[static_cast<std::size_t>(n)]) {
            listed[static_cast<std::size_t>(n)] = 1;
            next.push_back(n);
          }
        }
      candidates.swap(next);
    }
    if (!changed) break;
  }
  cv::Mat out(h, w, CV_8UC1);
  for (int y = 0; y < h; ++y) {
    const std::uint8_t* src = img.data() + (y + 1) * pw + 1;
    std::uint8_t* row = out.ptr<std::uint8_t>(y);
    for (int x = 0; x < w; ++x) row[x] = src[x];
  }
  return out;
}

}  // namespace densemtl::vision
