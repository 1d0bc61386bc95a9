// Ray casting of a procedural scene into an image and exact per-pixel ground truth.
#pragma once

#include <opencv2/core.hpp>

#include "densemtl/core/rng.h"
#include "densemtl/data/synthetic/scene.h"

namespace densemtl::synthetic {

struct RenderSettings {
  bool supersample = false;          // 2x2 rays per pixel for RGB only (labels use the centre ray)
  double depth_hole_fraction = 0.02; // share of pixels in invalid-depth blobs
  double noise_sigma = 2.0;          // sensor noise, in 8-bit levels
};

struct Rendering {
  cv::Mat rgb;        // CV_8UC3, RGB
  cv::Mat depth;      // CV_32F, z-depth in metres, 0 = invalid
  cv::Mat normals;    // CV_32FC3, camera frame (x right, y up, z toward the camera), 0 = invalid
  cv::Mat semseg;     // CV_8U, class index
  cv::Mat instances;  // CV_16U, instance id
  cv::Mat parts;      // CV_8U, human part (0 = none)
};

Rendering render(const Scene& scene, const RenderSettings& settings, Rng& rng);

// Adds `fraction` (of all pixels, approximately) of invalid depth in 1-4 irregular blobs:
// depth and normals become 0 there. Exposed for tests.
void add_depth_holes(cv::Mat& depth, cv::Mat& normals, double fraction, Rng& rng);

}  // namespace densemtl::synthetic
