#include "densemtl/report/mosaic.h"

#include <opencv2/imgproc.hpp>

#include "densemtl/core/strings.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::report {

cv::Mat to_rgb8(const cv::Mat& image) {
  cv::Mat out;
  image.convertTo(out, CV_8UC3);
  return out;
}

namespace {

// OpenCV's Hershey fonts draw ASCII only: the symbols results use get ASCII names, anything else '?'.
std::string ascii(const std::string& text) {
  static const std::vector<std::pair<std::string, std::string>> names = {{"Δ", "d"}, {"×", "x"}, {"°", "deg"}, {"±", "+-"},
                                                                        {"–", "-"}, {"—", "-"}, {"↑", ""},   {"↓", ""}};
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out += c < 0x20 ? ' ' : text[i];
      ++i;
      continue;
    }
    bool named = false;
    for (const auto& [utf8, name] : names)
      if (text.compare(i, utf8.size(), utf8) == 0) {
        out += name;
        i += utf8.size();
        named = true;
        break;
      }
    if (named) continue;
    out += '?';
    for (++i; i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80;) ++i;  // the rest of the character
  }
  return out;
}

// Draws `text` in the caption strip at (x, y) .. (x + width, y + height): shrunk until it fits the
// width, then shortened with ".." in the middle; never past the strip.
void draw_caption(cv::Mat& canvas, const std::string& caption, int x, int y, int width, int height) {
  std::string text = ascii(caption);
  if (text.empty() || width <= 4) return;
  const int face = cv::FONT_HERSHEY_SIMPLEX;
  double scale = height / 30.0;
  const double smallest = std::max(0.25, scale / 2);
  int baseline = 0;
  auto fits = [&](const std::string& t, double s) { return cv::getTextSize(t, face, s, 1, &baseline).width <= width - 4; };
  while (!fits(text, scale) && scale > smallest) scale = std::max(smallest, scale * 0.9);
  const std::string full = text;
  for (std::size_t keep = full.size(); !fits(text, scale) && keep > 1;) {
    --keep;  // characters kept around the ".."
    text = full.substr(0, (keep + 1) / 2) + ".." + full.substr(full.size() - keep / 2);
  }
  cv::Mat strip = canvas(cv::Rect(x, y, width, height));  // clips anything that still overflows
  cv::putText(strip, text, cv::Point(2, height - 4), face, scale, cv::Scalar(20, 20, 20), 1, cv::LINE_AA);
}

}  // namespace

cv::Mat text_tile(const std::string& text, cv::Size size) {
  cv::Mat tile(size, CV_8UC3, cv::Scalar::all(255));
  const int face = cv::FONT_HERSHEY_SIMPLEX;
  const double scale = std::max(0.3, size.height / 180.0);
  int baseline = 0;
  const int line_height = cv::getTextSize("Ag", face, scale, 1, &baseline).height + baseline + 4;
  // Greedy wrapping at spaces (a word longer than a line is cut where it overflows).
  std::vector<std::string> lines;
  std::string line;
  for (const auto& word : split(ascii(text), ' ')) {
    const std::string next = line.empty() ? word : line + " " + word;
    if (!line.empty() && cv::getTextSize(next, face, scale, 1, &baseline).width > size.width - 8) {
      lines.push_back(line);
      line = word;
    } else {
      line = next;
    }
  }
  if (!line.empty()) lines.push_back(line);
  for (std::size_t i = 0; i < lines.size() && static_cast<int>(i + 1) * line_height < size.height; ++i)
    cv::putText(tile, lines[i], cv::Point(4, static_cast<int>(i + 1) * line_height), face, scale, cv::Scalar(20, 20, 20), 1, cv::LINE_AA);
  return tile;
}

cv::Mat mosaic(const std::vector<Tile>& tiles, int columns) {
  if (tiles.empty()) return cv::Mat(1, 1, CV_8UC3, cv::Scalar::all(255));
  const int h = tiles.front().second.rows;
  const int caption = std::max(14, h / 10);
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
    draw_caption(canvas, tiles[static_cast<std::size_t>(i)].first, x, y, cell_w, caption);
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
