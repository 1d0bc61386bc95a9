// `densemtl generate`: renders a procedural scenes dataset to disk in the NYUD-MT layout
// (plus sal/, human_parts/ and instances/), multithreaded and byte-identical for a given seed.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "densemtl/core/fs.h"
#include "densemtl/data/synthetic/render.h"
#include "densemtl/data/synthetic/scene.h"

namespace densemtl::synthetic {

struct GenerateOptions {
  fs::path out;
  int height = 96, width = 128;
  int train = 800, val = 100, test = 200;
  std::uint64_t seed = 0;
  int threads = 0;  // 0 = all cores
  bool force = false;
  // Partially labelled data: per task (semseg, human_parts, sal, normals, edge, depth), the share
  // of images whose label is left out, drawn per image from the seed. Such a task's labelled ids
  // are listed in gt_sets/labelled/<task>.txt (the NYUD reader's per-task lists).
  std::map<std::string, double> drop_labels;
  SceneSettings scene;
  RenderSettings render;
};

struct GenerateSummary {
  std::array<int, 3> counts{};                    // train, val, test
  std::vector<double> image_share;                // per class: share of images that show it
  std::vector<double> pixel_share;                // per class: share of all pixels
  double person_image_share = 0;
  double seconds = 0;
  double images_per_second() const;
  int images() const { return counts[0] + counts[1] + counts[2]; }
  std::string table() const;                      // human-readable summary
};

// Writes the dataset into `options.out` (built under "<out>.partial", renamed when complete).
GenerateSummary generate(const GenerateOptions& options);

// Renders one sample exactly as `generate` does (split 0 train, 1 val, 2 test).
Rendering render_sample(const GenerateOptions& options, int split, int index);
std::string sample_id(int split, int index);
// Whether the label of `task` is left out for sample (split, index) (drop_labels).
bool label_dropped(const GenerateOptions& options, const std::string& task, int split, int index);

}  // namespace densemtl::synthetic
