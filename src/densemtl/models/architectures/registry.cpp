#include <map>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"
#include "densemtl/models/architectures/architecture.h"

namespace densemtl::models {

// The registration list. A new architecture: one file defining make_architecture_<name>(), and
// one line here.
#define DENSEMTL_ARCHITECTURES(X) \
  X(single_task)                  \
  X(baseline)

#define DENSEMTL_DECLARE(n) Architecture make_architecture_##n(const ModelSpec& spec);
DENSEMTL_ARCHITECTURES(DENSEMTL_DECLARE)
#undef DENSEMTL_DECLARE

const std::vector<std::string>& architecture_names() {
#define DENSEMTL_NAME(n) #n,
  static const std::vector<std::string> names = {DENSEMTL_ARCHITECTURES(DENSEMTL_NAME)};
#undef DENSEMTL_NAME
  return names;
}

Architecture make_architecture(const ModelSpec& spec) {
#define DENSEMTL_MAKE(n) \
  if (spec.architecture == #n) return make_architecture_##n(spec);
  DENSEMTL_ARCHITECTURES(DENSEMTL_MAKE)
#undef DENSEMTL_MAKE
  fail("unknown architecture '{}' (known: {})", spec.architecture, join(architecture_names(), ", "));
}

std::string ArchitectureImpl::component(const std::string& name) const {
  if (starts_with(name, "backbone.")) return "backbone";
  if (starts_with(name, "decoder.") || starts_with(name, "decoders.")) return "heads";
  return "other";
}

std::vector<torch::Tensor> ArchitectureImpl::shared_parameters() {
  std::vector<torch::Tensor> out;
  for (const auto& p : named_parameters())
    if (starts_with(p.key(), "backbone.")) out.push_back(p.value());
  return out;
}

}  // namespace densemtl::models
