// Single-task baseline (the reference's SingleTaskModel): backbone -> head -> upsample to the
// input size. Names: backbone.*, decoder.*. The baselines Delta_m is measured against.
#include "densemtl/models/architectures/architecture.h"

namespace densemtl::models {

namespace {

class SingleTaskImpl : public ArchitectureImpl {
 public:
  explicit SingleTaskImpl(const ModelSpec& spec) : ArchitectureImpl(spec) {
    backbone_ = register_module("backbone", make_backbone(spec.backbone));
    declare("backbone", backbone_, Component::Backbone, ParameterGroup::shared());
    decoder_ = register_module("decoder", make_head(spec.head, backbone_->out_channels(), spec.outputs.at(spec.tasks[0])));
    declare("decoder", decoder_, Component::Head, ParameterGroup::of_task(spec.tasks[0]));
  }

  ModelOutput forward(const torch::Tensor& image) override {
    ModelOutput out;
    out.representation = share(backbone_->forward(image));
    const std::string& t = spec_.tasks[0];
    out.tasks[t] = upsample(decoder_->forward(out.representation.for_task(t)), image.size(2), image.size(3));
    return out;
  }

 private:
  std::shared_ptr<BackboneImpl> backbone_;
  std::shared_ptr<HeadImpl> decoder_;
};

std::string accepts(const ModelSpec& spec) {
  if (spec.tasks.size() != 1)
    return fmt::format("tasks.main: a single_task model predicts one task, got {} ({})", spec.tasks.size(), join(spec.tasks, ", "));
  return no_auxiliary_tasks(spec);
}

}  // namespace

DENSEMTL_REGISTER(ArchitectureEntry, {"single_task", 10, "one task: backbone + head (the baselines of Delta_m)",
                                      architecture<SingleTaskImpl>, ArchitectureEntry::Role::SingleTask, {}, accepts,
                                      "single-task"});

}  // namespace densemtl::models
