// From a model spec to a network: building it, weights loading by name, parameter counts per
// component and group, FLOPs per image.
#pragma once

#include <string>
#include <vector>

#include "densemtl/core/fs.h"
#include "densemtl/core/json.h"
#include "densemtl/models/architectures/architecture.h"

namespace densemtl::models {

// The network of `spec`, with ImageNet backbone weights and a reference checkpoint loaded when
// their files are given.
Architecture build_model(const ModelSpec& spec, const std::string& backbone_weights = "", const std::string& weights = "");

// Parameter counts per component (backbones, heads, the rest) and per declared group. `backbone`
// is one backbone, as the reference tables count it; models with one backbone per task
// (cross-stitch, NDDR-CNN) have `backbones` copies of it, so that
// total = backbones x backbone + heads + other. A tree-shaped encoder (branched networks) is one
// backbone: all its block instances together.
struct ParameterCount {
  std::int64_t total = 0, backbone = 0, heads = 0, other = 0;
  int backbones = 0;
  std::map<std::string, std::int64_t> groups;  // "shared", "task:<t>", "cross_task"
  // "79292841 total = 2 x 23508032 backbone + 16377 heads + 15360 other"
  std::string text() const;
  // {"total", "backbone", "backbones", "heads", "other", "groups"} (run.json, info --json)
  Json to_json() const;
};
ParameterCount count_parameters(ArchitectureImpl& model);

// Multiply-accumulates of one forward pass on a 1 x 3 x H x W input (convolutions and linear
// layers); FLOPs are reported as 2 x MACs.
std::int64_t count_macs(ArchitectureImpl& model, int height, int width);

// Loading named tensors (a state dict) into a module.
struct LoadReport {
  std::size_t loaded = 0;
  std::vector<std::string> missing;      // in the module, not in the file
  std::vector<std::string> unexpected;   // in the file, not in the module
  std::vector<std::string> mismatched;   // "name: file [a, b] vs model [c, d]"
  std::string summary(std::size_t max_names = 6) const;
};
// `strip_prefix` is removed from file names first (e.g. "module."), `add_prefix` is put in front
// to address a sub-module (e.g. "backbone.").
LoadReport load_tensors(torch::nn::Module& module, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                        const std::string& add_prefix = "");

// Copies a single-task model's weights and buffers into the part of `model` built from it
// (ArchitectureImpl::single_task_prefixes(task)); a missing, extra or mis-shaped tensor is an
// error naming it.
void load_single_task(ArchitectureImpl& model, const std::string& task, ArchitectureImpl& single_task);

// backbone.weights: an ImageNet state dict in torchvision / HRNet naming. Classification-head
// tensors (fc, classifier, ...) are ignored; a missing or mis-shaped backbone tensor is an error
// naming it.
void load_backbone_weights(ArchitectureImpl& model, const fs::path& file);
// model.weights / `densemtl import`: a checkpoint or state dict of the survey's Python code
// ("module." prefixes stripped). Every model tensor must be present with its shape.
LoadReport load_reference_weights(ArchitectureImpl& model, const fs::path& file);

}  // namespace densemtl::models
