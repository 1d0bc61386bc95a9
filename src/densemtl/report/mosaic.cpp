#include "densemtl/report/mosaic.h"

#include <opencv2/imgproc.hpp>

#include "densemtl/tasks/registry.h"

namespace densemtl::report {

cv::Mat to_rgb8(const cv::Mat& image) {
  cv::Mat out;
  image.convertTo(out, CV_8UC3);
  return out;
}

cv::Mat mosaic(const std::vector<Tile>& tiles, int columns) {
  if (tiles.empty()) return cv::Mat(1, 1, CV_8UC3, cv::Scalar::all(255));
  const int h = tiles.front().second.rows;
  const int caption = std::max(14, h / 10);
  const double font = caption / 30.0;
  std::vector<cv::Mat> cells;
  int cell_w = 0;
  for (const auto& [name, img] : tiles) {
    cv::Mat scaled;
    double s = static_cast<double>(h) / img.rows;
    cv::resize(img, scaled, cv::Size(std::max(1, static_cast<int>(img.cols * s + 0.5)), h), 0, 0, cv::INTER_NEAREST);
    cell_w = std::max(cell_w, scaled.cols);
    cells.push_back(scaled);
  }
  const int n = static_cast<int>(cells.size());
  const int cols = columns > 0 ? std::min(columns, n) : n;
  const int rows = (n + cols - 1) / cols;
  const int pad = 2;
  cv::Mat canvas(rows * (h + caption + pad) + pad, cols * (cell_w + pad) + pad, CV_8UC3, cv::Scalar::all(255));
  for (int i = 0; i < n; ++i) {
    int r = i / cols, c = i % cols;
    int x = pad + c * (cell_w + pad), y = pad + r * (h + caption + pad);
    cv::putText(canvas, tiles[static_cast<std::size_t>(i)].first, cv::Point(x + 2, y + caption - 4), cv::FONT_HERSHEY_SIMPLEX,
                font, cv::Scalar(20, 20, 20), 1, cv::LINE_AA);
    cells[static_cast<std::size_t>(i)].copyTo(canvas(cv::Rect(x, y + caption, cells[static_cast<std::size_t>(i)].cols, h)));
  }
  return canvas;
}

std::vector<Tile> sample_tiles(const data::Sample& sample, const data::DatasetInfo& info) {
  std::vector<Tile> tiles = {{"image", to_rgb8(sample.image)}};
  for (const auto& name : tasks::names()) {
    auto it = sample.labels.find(name);
    if (it == sample.labels.end()) continue;
    tiles.emplace_back(name, tasks::get(name).draw(it->second, info));
  }
  return tiles;
}

}  // namespace densemtl::report
