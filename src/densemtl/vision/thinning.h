// Morphological thinning, equivalent to MATLAB's bwmorph(BW, 'thin', Inf) and to
// skimage.morphology.thin: the two-subiteration parallel algorithm of Guo & Hall (1989), with the
// conditions G1, G2, G3 (first subiteration) and G1, G2, G3' (second) as MATLAB documents them
// (after Lam, Lee & Suen, "Thinning Methodologies - A Comprehensive Survey", TPAMI 1992, p. 879).
// Both subiterations test every pixel against the image as it was at the start of the
// subiteration (a parallel step), pixels outside the image count as 0, and iterations repeat
// until the image stops changing.
#pragma once

#include <opencv2/core.hpp>

#include <cstdint>
#include <vector>

namespace densemtl::vision {

// A binary image packed 64 pixels to a word, inside a one-pixel frame of zeros: pixel (y, x) is bit
// (x + 1) % 64 of word (x + 1) / 64 of row y + 1; row(y) is valid for y in [-1, rows].
class BitImage {
 public:
  BitImage() = default;
  BitImage(int rows, int cols);
  explicit BitImage(const cv::Mat& binary);  // CV_8U, non-zero = 1
  int rows() const { return rows_; }
  int cols() const { return cols_; }
  int words() const { return words_; }
  std::uint64_t* row(int y) { return bits_.data() + static_cast<std::size_t>(y + 1) * static_cast<std::size_t>(words_); }
  const std::uint64_t* row(int y) const { return bits_.data() + static_cast<std::size_t>(y + 1) * static_cast<std::size_t>(words_); }
  bool get(int y, int x) const { return (row(y)[(x + 1) >> 6] >> ((x + 1) & 63)) & 1U; }
  void set(int y, int x) { row(y)[(x + 1) >> 6] |= std::uint64_t{1} << ((x + 1) & 63); }
  std::int64_t count() const;
  cv::Mat to_mat() const;  // CV_8U in {0, 1}
  // Sets the image to level >= threshold over a CV_8U map (the frame stays 0).
  void assign_at_least(const cv::Mat& levels, int threshold);

 private:
  int rows_ = 0, cols_ = 0, words_ = 0;
  std::vector<std::uint64_t> bits_;
};

// `binary`: CV_8U, non-zero = foreground. Returns CV_8U in {0, 1}.
// max_iterations < 0 means "until nothing changes" (MATLAB's Inf).
cv::Mat thin(const cv::Mat& binary, int max_iterations = -1);

// The same thinning in place on a packed image: each subiteration evaluates G1, G2 and G3 (or G3')
// as Boolean expressions on 64 pixels at once, on the words that can change (those at or next to a
// word that lost pixels in the last two subiterations).
void thin(BitImage& image, int max_iterations = -1);

}  // namespace densemtl::vision
