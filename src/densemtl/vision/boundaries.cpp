#include "densemtl/vision/boundaries.h"

#include <opencv2/imgproc.hpp>

namespace densemtl::vision {

cv::Mat seg2bmap(const cv::Mat& labels) {
  CV_Assert(labels.channels() == 1);
  cv::Mat seg;
  labels.convertTo(seg, CV_64F);
  const int h = seg.rows, w = seg.cols;
  cv::Mat b(h, w, CV_8UC1, cv::Scalar(0));
  for (int y = 0; y < h; ++y) {
    const double* row = seg.ptr<double>(y);
    const double* below = y + 1 < h ? seg.ptr<double>(y + 1) : nullptr;
    auto* out = b.ptr<std::uint8_t>(y);
    for (int x = 0; x < w; ++x) {
      bool last_row = below == nullptr, last_col = x + 1 == w;
      bool v;
      if (last_row && last_col) v = false;
      else if (last_row) v = row[x] != row[x + 1];
      else if (last_col) v = row[x] != below[x];
      else v = row[x] != row[x + 1] || row[x] != below[x] || row[x] != below[x + 1];
      out[x] = v ? 1 : 0;
    }
  }
  return b;
}

cv::Mat laplacian_edges(const cv::Mat& labels) {
  cv::Mat l64, lap;
  labels.convertTo(l64, CV_64F);
  cv::Laplacian(l64, lap, CV_64F, 1);
  cv::Mat out = (cv::abs(lap) > 0) / 255;
  out.convertTo(out, CV_8U);
  return out;
}

}  // namespace densemtl::vision
