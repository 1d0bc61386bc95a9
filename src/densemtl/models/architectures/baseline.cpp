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
    decoders_ = register_module("decoders", torch::nn::ModuleDict());
    for (const auto& t : spec.tasks) {
      auto head = make_head(spec.head, backbone_->out_channels(), spec.outputs.at(t));
      decoders_->update(std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>>{{t, head}});
      declare("decoders." + t, head, Component::Head, ParameterGroup::of_task(t));
      heads_[t] = head;
    }
  }

  ModelOutput forward(const torch::Tensor& image) override {
    ModelOutput out;
    out.representation = share(backbone_->forward(image));
    for (const auto& t : spec_.tasks)
      out.tasks[t] = upsample(heads_.at(t)->forward(out.representation.for_task(t)), image.size(2), image.size(3));
    return out;
  }

 private:
  std::shared_ptr<BackboneImpl> backbone_;
  torch::nn::ModuleDict decoders_{nullptr};
  std::map<std::string, std::shared_ptr<HeadImpl>> heads_;
};

}  // namespace

DENSEMTL_REGISTER(ArchitectureEntry, {"baseline", 20, "shared encoder + one head per task (hard parameter sharing)",
                                      architecture<BaselineImpl>, ArchitectureEntry::Role::MultiTask, {}, no_auxiliary_tasks,
                                      "multi-task baseline"});

}  // namespace densemtl::models
