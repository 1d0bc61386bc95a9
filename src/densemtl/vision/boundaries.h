// Boundary maps from label maps.
#pragma once

#include <opencv2/core.hpp>

namespace densemtl::vision {

// BSDS seg2bmap at the label map's own size: a pixel is a boundary pixel when its label differs
// from its right, bottom or bottom-right neighbour; in the last row only the right neighbour
// counts, in the last column only the bottom one, and the bottom-right corner is never a
// boundary. Labels: any single-channel type. Returns CV_8U in {0, 1}.
cv::Mat seg2bmap(const cv::Mat& labels);

// PASCAL-Context training edges before thinning: |Laplacian(labels)| > 0 with OpenCV's ksize=1
// kernel (4-neighbour) and its default border (reflect-101), as the reference does with
// cv2.Laplacian(LabelMap, CV_64F). Returns CV_8U in {0, 1}.
cv::Mat laplacian_edges(const cv::Mat& labels);

}  // namespace densemtl::vision
