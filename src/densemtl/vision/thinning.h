// Morphological thinning, equivalent to MATLAB's bwmorph(BW, 'thin', Inf) and to
// skimage.morphology.thin: the two-subiteration parallel algorithm of Guo & Hall (1989), with the
// conditions G1, G2, G3 (first subiteration) and G1, G2, G3' (second) as MATLAB documents them
// (after Lam, Lee & Suen, "Thinning Methodologies - A Comprehensive Survey", TPAMI 1992, p. 879).
// Both subiterations test every pixel against the image as it was at the start of the
// subiteration (a parallel step), pixels outside the image count as 0, and iterations repeat
// until the image stops changing.
#pragma once

#include <opencv2/core.hpp>

#include <array>
#include <cstdint>

namespace densemtl::vision {

// `binary`: CV_8U, non-zero = foreground. Returns CV_8U in {0, 1}.
// max_iterations < 0 means "until nothing changes" (MATLAB's Inf).
cv::Mat thin(const cv::Mat& binary, int max_iterations = -1);

// The deletion tables, indexed by the 8-neighbour code: bit k-1 is neighbour x_k, with x_1 the
// east neighbour and the others numbered counter-clockwise (x_2 north-east, x_3 north, ...).
const std::array<std::uint8_t, 256>& thin_lut_first();
const std::array<std::uint8_t, 256>& thin_lut_second();

}  // namespace densemtl::vision
