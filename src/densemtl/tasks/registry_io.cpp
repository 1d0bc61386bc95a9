// What all tasks share: prediction files (PNG through OpenCV, .npy for float maps), label value
// checks, the default KPI.
#include <opencv2/imgproc.hpp>

#include <cmath>

#include "densemtl/core/error.h"
#include "densemtl/vision/io/image.h"
#include "densemtl/vision/io/npy.h"
#include "densemtl/tasks/task.h"

namespace densemtl::tasks {

void Task::write_prediction(const fs::path& file, const cv::Mat& stored) const {
  if (prediction_extension() == ".npy") {
    npy::write_mat(file, stored);
  } else if (stored.channels() == 3) {
    image::write_rgb(file, stored);
  } else {
    image::write(file, stored);
  }
}

cv::Mat Task::read_prediction(const fs::path& file) const {
  if (prediction_extension() == ".npy") return npy::read_mat(file, label_channels());
  if (label_channels() == 3) {
    // An 8-bit RGB PNG exactly: a greyscale or 16-bit file would be converted without a word.
    cv::Mat m = image::read_unchanged(file);
    if (m.channels() != 3 || m.depth() != CV_8U)
      fail("{}: expected an 8-bit RGB PNG for {}, got {} channel(s) of {} bits", file.string(), name(), m.channels(),
           m.depth() == CV_8U ? 8 : m.depth() == CV_16U ? 16 : 32);
    cv::cvtColor(m, m, cv::COLOR_BGR2RGB);
    return m;
  }
  cv::Mat m = image::read_gray(file);
  if (m.depth() != CV_8U) fail("{}: expected an 8-bit PNG", file.string());
  return m;
}

void Task::check_label(const cv::Mat& label) const {
  if (label.depth() != CV_32F) return;  // integer labels are finite
  const cv::Mat flat = label.reshape(1);
  int count = 0, row = 0, col = 0;
  for (int y = 0; y < flat.rows; ++y) {
    const float* p = flat.ptr<float>(y);
    for (int x = 0; x < flat.cols; ++x)
      if (!std::isfinite(p[x]) && count++ == 0) {
        row = y;
        col = x / label.channels();
      }
  }
  if (count)
    fail("{} non-finite {} value(s) (the first at row {}, column {}); mark unlabelled pixels as the format says, not with "
         "NaN or inf",
         count, name(), row, col);
}

std::optional<double> Task::kpi(const OrderedJson& metrics) const {
  const std::string key = delta_metric();
  if (lower_is_better() || !metrics.contains(key) || !metrics.at(key).is_number()) return std::nullopt;
  return metrics.at(key).get<double>() / 100.0;
}

}  // namespace densemtl::tasks
