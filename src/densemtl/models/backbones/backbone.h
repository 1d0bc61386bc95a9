// The encoder interface. A backbone runs stage by stage so that architectures can put cross-task
// units between stages (cross-stitch, NDDR-CNN, MTAN) or read every scale (MTI-Net); forward()
// runs all stages and returns the final features (ResNet: one map at stride 8; HRNet: four maps
// at strides 4, 8, 16, 32).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "densemtl/models/layers.h"

namespace densemtl::models {

class BackboneImpl : public torch::nn::Module {
 public:
  ~BackboneImpl() override = default;
  virtual std::vector<std::string> stage_names() const = 0;
  // Runs stage `stage` on the previous stage's output (stage 0 takes {image}).
  virtual Features forward_stage(std::size_t stage, const Features& input) = 0;
  // Channels of each map a stage outputs.
  virtual std::vector<std::int64_t> stage_channels(std::size_t stage) const = 0;
  std::vector<std::int64_t> out_channels() const { return stage_channels(stage_names().size() - 1); }
  Features forward(const torch::Tensor& image);

  // --- Blocks (branched multi-task networks) ---
  // The child modules (names under this module) that stage `stage` runs.
  virtual std::vector<std::string> stage_modules(std::size_t stage) const = 0;
  // The blocks a tree-shaped encoder may branch between, as the index one past each block's last
  // stage: every stage is a block unless a backbone says otherwise (ResNet's stem joins layer1).
  virtual std::vector<std::size_t> block_ends() const;
  // Keeps stages [first, end) only: the other stages' modules are unregistered and their tensors
  // released, so that the backbone is one block of a tree (whose other blocks are other
  // instances). Only the kept stages may run afterwards.
  void keep_stages(std::size_t first, std::size_t end);
};

struct BackboneSpec {
  std::string name;     // resnet18 | resnet50 | hrnet_w18
  bool dilated = true;  // ResNet: output stride 8
  double width = 1.0;
};

std::shared_ptr<BackboneImpl> make_backbone(const BackboneSpec& spec);

}  // namespace densemtl::models
