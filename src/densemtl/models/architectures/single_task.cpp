// Single-task baseline (the reference's SingleTaskModel): backbone -> head -> upsample to the
// input size. Names: backbone.*, decoder.*.
#include "densemtl/core/error.h"
#include "densemtl/models/architectures/architecture.h"

namespace densemtl::models {

namespace {

class SingleTaskImpl : public ArchitectureImpl {
 public:
  explicit SingleTaskImpl(const ModelSpec& spec) : ArchitectureImpl(spec) {
    if (spec.tasks.size() != 1)
      fail("model.architecture: single_task predicts exactly one task, tasks.main lists {}", spec.tasks.size());
    backbone_ = register_module("backbone", make_backbone(spec.backbone));
    decoder_ = register_module("decoder", make_head(spec.head, backbone_->out_channels(), spec.outputs.at(spec.tasks[0])));
  }

  ModelOutput forward(const torch::Tensor& image) override {
    ModelOutput out;
    out.shared = backbone_->forward(image);
    out.tasks[spec_.tasks[0]] = upsample(decoder_->forward(out.shared), image.size(2), image.size(3));
    return out;
  }

 private:
  std::shared_ptr<BackboneImpl> backbone_;
  std::shared_ptr<HeadImpl> decoder_;
};

}  // namespace

Architecture make_architecture_single_task(const ModelSpec& spec) { return std::make_shared<SingleTaskImpl>(spec); }

}  // namespace densemtl::models
