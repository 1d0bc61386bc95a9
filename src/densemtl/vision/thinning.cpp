#include "densemtl/vision/thinning.h"

#include <algorithm>
#include <vector>

namespace densemtl::vision {

BitImage::BitImage(int rows, int cols)
    : rows_(rows), cols_(cols), words_((cols + 2 + 63) / 64),
      bits_(static_cast<std::size_t>(rows + 2) * static_cast<std::size_t>((cols + 2 + 63) / 64), 0) {}

BitImage::BitImage(const cv::Mat& binary) : BitImage(binary.rows, binary.cols) {
  CV_Assert(binary.type() == CV_8UC1);
  assign_at_least(binary, 1);
}

void BitImage::assign_at_least(const cv::Mat& levels, int threshold) {
  CV_Assert(levels.type() == CV_8UC1 && levels.rows == rows_ && levels.cols == cols_);
  for (int y = 0; y < rows_; ++y) {
    const std::uint8_t* p = levels.ptr<std::uint8_t>(y);
    std::uint64_t* r = row(y);
    for (int k = 0; k < words_; ++k) {
      // Bits 1..64 of word k hold pixels 64k .. 64k + 63 (bit 0 of word 0 is the frame).
      std::uint64_t word = 0;
      const int x0 = 64 * k - 1;
      for (int b = 0; b < 64; ++b) {
        const int x = x0 + b;
        if (x >= 0 && x < cols_ && p[x] >= threshold) word |= std::uint64_t{1} << b;
      }
      r[k] = word;
    }
  }
}

std::int64_t BitImage::count() const {
  std::int64_t n = 0;
  for (std::uint64_t w : bits_) n += __builtin_popcountll(w);
  return n;
}

cv::Mat BitImage::to_mat() const {
  cv::Mat out(rows_, cols_, CV_8UC1);
  for (int y = 0; y < rows_; ++y) {
    std::uint8_t* o = out.ptr<std::uint8_t>(y);
    for (int x = 0; x < cols_; ++x) o[x] = get(y, x) ? 1 : 0;
  }
  return out;
}

cv::Mat thin(const cv::Mat& binary, int max_iterations) {
  CV_Assert(binary.type() == CV_8UC1);
  BitImage image(binary);
  thin(image, max_iterations);
  return image.to_mat();
}

void thin(BitImage& image, int max_iterations) {
  const int h = image.rows(), nw = image.words();
  // Neighbours of the 64 pixels of word k, from the rows above (a), at (c) and below (b): x_1 east,
  // x_2 north-east, x_3 north, x_4 north-west, x_5 west, x_6 south-west, x_7 south, x_8 south-east.
  auto east = [nw](const std::uint64_t* r, int k) { return (r[k] >> 1) | (k + 1 < nw ? r[k + 1] << 63 : 0); };
  auto west = [](const std::uint64_t* r, int k) { return (r[k] << 1) | (k > 0 ? r[k - 1] >> 63 : 0); };
  auto at_least_two = [](std::uint64_t p, std::uint64_t q, std::uint64_t r, std::uint64_t s) {
    return (p & q) | (r & s) | ((p | q) & (r | s));
  };
  // The deletion mask of word k of row y in subiteration `sub`.
  auto deletions = [&](int y, int k, int sub) -> std::uint64_t {
    const std::uint64_t *a = image.row(y - 1), *c = image.row(y), *b = image.row(y + 1);
    const std::uint64_t p = c[k];
    if (!p) return 0;
    const std::uint64_t x1 = east(c, k), x3 = a[k], x5 = west(c, k), x7 = b[k];
    // G1 needs a background 4-neighbour (some !x_{2i-1}): interior pixels stay.
    const std::uint64_t border = p & ~(x1 & x3 & x5 & x7);
    if (!border) return 0;
    const std::uint64_t x2 = east(a, k), x4 = west(a, k), x6 = west(b, k), x8 = east(b, k);
    // G1: exactly one of the four b_i = !x_{2i-1} & (x_{2i} | x_{2i+1}).
    const std::uint64_t b1 = ~x1 & (x2 | x3), b2 = ~x3 & (x4 | x5), b3 = ~x5 & (x6 | x7), b4 = ~x7 & (x8 | x1);
    const std::uint64_t g1 = (b1 ^ b2 ^ b3 ^ b4) & ~at_least_two(b1, b2, b3, b4);
    // G2: 2 <= min(n1, n2) <= 3 with n1 counting x_{2k-1} | x_{2k}, n2 counting x_{2k} | x_{2k+1}.
    const std::uint64_t a1 = x1 | x2, a2 = x3 | x4, a3 = x5 | x6, a4 = x7 | x8;
    const std::uint64_t c1 = x2 | x3, c2 = x4 | x5, c3 = x6 | x7, c4 = x8 | x1;
    const std::uint64_t g2 =
        at_least_two(a1, a2, a3, a4) & at_least_two(c1, c2, c3, c4) & (~(a1 & a2 & a3 & a4) | ~(c1 & c2 & c3 & c4));
    // G3 = !((x2 | x3 | !x8) & x1);  G3' = !((x6 | x7 | !x4) & x5).
    const std::uint64_t g3 = sub == 0 ? ~((x2 | x3 | ~x8) & x1) : ~((x6 | x7 | ~x4) & x5);
    return border & g1 & g2 & g3;
  };
  // A pixel kept in a subiteration can only be deleted by the same condition after a neighbour
  // changed, so from the third subiteration on only the words at or next to a word that lost pixels
  // in one of the last two subiterations are evaluated: lost[s % 2][y + 1] has bit k set when word k
  // of row y lost pixels in subiteration s (rows of up to 64 words; wider images evaluate every word).
  const bool masks = nw <= 64;
  const std::uint64_t all = nw >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << nw) - 1;
  std::vector<std::uint64_t> lost[2] = {std::vector<std::uint64_t>(static_cast<std::size_t>(h) + 2, all),
                                        std::vector<std::uint64_t>(static_cast<std::size_t>(h) + 2, all)};
  lost[0].front() = lost[0].back() = lost[1].front() = lost[1].back() = 0;  // the frame never changes
  std::vector<std::uint64_t> remove(static_cast<std::size_t>(h) * static_cast<std::size_t>(nw));
  std::vector<std::uint64_t> now(static_cast<std::size_t>(h) + 2, 0);
  for (int iter = 0; max_iterations < 0 || iter < max_iterations; ++iter) {
    bool any = false;
    for (int sub = 0; sub < 2; ++sub) {
      for (int y = 0; y < h; ++y) {
        const auto r = static_cast<std::size_t>(y) + 1;
        std::uint64_t active = all;
        if (masks) {
          const std::uint64_t m = lost[0][r - 1] | lost[0][r] | lost[0][r + 1] | lost[1][r - 1] | lost[1][r] | lost[1][r + 1];
          active = (m | (m << 1) | (m >> 1)) & all;
        }
        std::uint64_t changed = 0;
        std::uint64_t* d = remove.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(nw);
        if (masks) {
          for (std::uint64_t bits = active; bits; bits &= bits - 1) {
            const int k = __builtin_ctzll(bits);
            d[k] = deletions(y, k, sub);
            if (d[k]) changed |= std::uint64_t{1} << k;
          }
        } else {
          for (int k = 0; k < nw; ++k) {
            d[k] = deletions(y, k, sub);
            if (d[k]) changed = 1;
          }
        }
        now[r] = changed;
      }
      for (int y = 0; y < h; ++y) {
        const std::uint64_t changed = now[static_cast<std::size_t>(y) + 1];
        if (!changed) continue;
        any = true;
        std::uint64_t* c = image.row(y);
        const std::uint64_t* d = remove.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(nw);
        if (masks) {
          for (std::uint64_t bits = changed; bits; bits &= bits - 1) {
            const int k = __builtin_ctzll(bits);
            c[k] &= ~d[k];
          }
        } else {
          for (int k = 0; k < nw; ++k) c[k] &= ~d[k];
        }
      }
      lost[sub].swap(now);
    }
    if (!any) break;
  }
}

}  // namespace densemtl::vision
