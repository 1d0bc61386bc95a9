// The data pipeline of the reference (the survey's code's utils/common_config.get_transformations,
// github.com/SimonVandenhende/Multi-Task-Learning-PyTorch), on OpenCV matrices:
//   train: horizontal flip -> scale and rotate -> fixed resize -> ignore regions -> normalise
//   eval:                                         fixed resize -> ignore regions -> normalise
// Per-task behaviour (interpolation, normals rotation, depth scaling, ignore rules) comes from
// the task registry, so the pipeline itself knows no task.
#pragma once

#include <opencv2/core.hpp>

#include <array>
#include <vector>

#include "densemtl/core/rng.h"
#include "densemtl/data/dataset.h"

namespace densemtl::data {

struct AugmentOptions {
  bool flip = false;                 // p = 0.5
  std::vector<double> scales;        // discrete choice (NYUD: 1.0, 1.2, 1.5); empty = use the range
  double scale_min = 1.0, scale_max = 1.0;  // continuous range (PASCAL: 0.75 .. 1.25)
  double rotation = 0.0;             // uniform in [-rotation, rotation] degrees (PASCAL: 20)
  bool any() const { return flip || !scales.empty() || scale_min != 1.0 || scale_max != 1.0 || rotation != 0.0; }
};

struct PipelineOptions {
  cv::Size size;                     // network input (width, height)
  AugmentOptions augment;            // used by train pipelines only
  bool normals_y_down = true;        // frame of the dataset's normals
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
};

// The individual steps, exposed for tests. Each works in place on every label of the sample.
void hflip(Sample& s);
// Rotation by `degrees` (counter-clockwise on screen) and zoom by `scale` about the image centre,
// output size unchanged, constant-0 border (so padding becomes background or invalid).
void scale_rotate(Sample& s, double degrees, double scale, bool normals_y_down);
void resize_to(Sample& s, cv::Size size);
void add_ignore_regions(Sample& s);
// RGB 0..255 float -> normalised float: saturate to 0..255, truncate to an integer as the
// reference's uint8 cast does (it wraps instead of saturating; we saturate on purpose), divide by
// 255, subtract mean, divide by std.
cv::Mat normalize_image(const cv::Mat& rgb, const PipelineOptions& o);

class Pipeline {
 public:
  Pipeline(PipelineOptions options, bool train) : o_(std::move(options)), train_(train) {}
  // Returns the sample ready for the network: image normalised (CV_32FC3), labels at the network
  // size with ignore regions marked. `rng` draws the augmentation (train pipelines only).
  Sample operator()(Sample s, Rng& rng) const;
  const PipelineOptions& options() const { return o_; }
  bool train() const { return train_; }

 private:
  PipelineOptions o_;
  bool train_;
};

}  // namespace densemtl::data
