// Multi-task baseline with hard parameter sharing (the reference's MultiTaskModel): one shared
// backbone computed once, one head per task. Tasks interact only through the shared encoder.
// Names: backbone.*, decoders.<task>.*.
#include "densemtl/models/architectures/architecture.h"

namespace densemtl::models {

namespace {

class BaselineImpl : public ArchitectureImpl {
 public:
  explicit BaselineImpl(const ModelSpec& spec) : ArchitectureImpl(spec) {
    backbone_ = register_module("backbone", make_backbone(spec.backbone));
    declare("backbone", backbone_, Component::Backbone, ParameterGroup::shared());
    heads_ = add_task_heads("decoders", backbone_->out_channels());
  }

  ModelOutput forward(const torch::Tensor& image) override {
    ModelOutput out;
    out.representation = share(backbone_->forward(image));
    predict_tasks(out, heads_, image);
    return out;
  }

 private:
  std::shared_ptr<BackboneImpl> backbone_;
  std::map<std::string, std::shared_ptr<HeadImpl>> heads_;
};

}  // namespace

DENSEMTL_REGISTER(ArchitectureEntry, {"baseline", 20, "shared encoder + one head per task (hard parameter sharing)",
                                      architecture<BaselineImpl>, ArchitectureEntry::Role::MultiTask, {}, no_auxiliary_tasks,
                                      "multi-task baseline"});

}  // namespace densemtl::models
