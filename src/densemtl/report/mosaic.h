// Picture mosaics: tiles (RGB images of possibly different sizes) laid out in a grid, each with a
// caption strip above it.
#pragma once

#include <opencv2/core.hpp>

#include <string>
#include <utility>
#include <vector>

#include "densemtl/data/dataset.h"

namespace densemtl::report {

using Tile = std::pair<std::string, cv::Mat>;  // caption, RGB CV_8UC3

// Tiles are scaled to the height of the first one; `columns` = 0 puts all in one row.
cv::Mat mosaic(const std::vector<Tile>& tiles, int columns = 0);

// A white tile of `size` with `text` written in it, wrapped onto as many lines as it needs (a
// row's label in a mosaic, however long).
cv::Mat text_tile(const std::string& text, cv::Size size);

// The input image and a picture of every label of a raw sample (as read by a dataset reader).
std::vector<Tile> sample_tiles(const data::Sample& sample, const data::DatasetInfo& info);

// An RGB 0..255 float image (a raw sample's image) as CV_8UC3.
cv::Mat to_rgb8(const cv::Mat& image);

}  // namespace densemtl::report
