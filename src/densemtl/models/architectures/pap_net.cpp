// PAP-Net: Zhang, Cui, Xu, Yan, Sebe & Yang, "Pattern-Affinitive Propagation across Depth, Surface
// Normal and Semantic Segmentation", CVPR 2019; on PAD-Net's HRNet-18 trunk
// (no public code; the paper's method section was not checked, its [unconfirmed] constants are
// options here).
//
//   F          = fuse(HRNet(x))                                   270 ch at 1/4
//   F_j, p_j   = initial prediction of every task j               (PAD-Net's initial heads)
//   Φ_j        = resize(conv1x1(F_j)) → B × N × C_a              N pixels at 1/resolution
//   M_j        = ρ(Φ_j Φ_jᵀ)                                      task-specific affinity, row-stochastic
//   α_t        = softmax(w_t)                                     learned combination for main task t
//   X^{k+1}    = β·(Σ_j α_{t,j} M_j)·X^k + (1 − β)·X^0,  X^0 = Φ_t,  k < K   (diffusion)
//   y_t        = up(rec_t([up(X^K); F_t]))                       reconstruction
//
// The initial predictions are deep supervision (`initial_<j>`), a loss term of their task beside
// the final one. Names: backbone.{0,1}, initial_task_prediction_heads.*, embedding.<t>,
// combination, reconstruction.<t>.{0..5}.
#include "densemtl/models/architectures/pap_net.h"

#include <cmath>

#include "densemtl/core/error.h"

namespace densemtl::models::pap {

Normalisation parse_normalisation(const std::string& name) {
  if (name == "row_softmax") return Normalisation::RowSoftmax;
  if (name == "row_sum") return Normalisation::RowSum;
  fail("model.pap_net.normalisation: unknown '{}' (row_softmax, row_sum)", name);
}

namespace {
// Row-normalised φ⁺ = relu(φ) + 1e-6: the unit vectors whose inner products are row_sum's cosines.
torch::Tensor unit_rows(const torch::Tensor& phi) {
  torch::Tensor p = torch::relu(phi) + 1e-6;
  return p / p.norm(2, -1, true);
}
}  // namespace

Affinities::Affinities(const std::vector<torch::Tensor>& embeddings, Normalisation normalisation, bool factorised) {
  if (factorised && normalisation != Normalisation::RowSum)
    fail("model.pap_net.affinity_impl: factorised needs normalisation: row_sum (row_softmax has no factorised form)");
  for (const auto& phi : embeddings) {
    if (normalisation == Normalisation::RowSoftmax) {
      dense_.push_back(torch::softmax(torch::bmm(phi, phi.transpose(1, 2)), -1));
      continue;
    }
    torch::Tensor u = unit_rows(phi);
    if (!factorised) {
      torch::Tensor s = torch::bmm(u, u.transpose(1, 2));
      dense_.push_back(s / s.sum(-1, true));
      continue;
    }
    // Φ̃ (Φ̃ᵀ 1): the row sums of Φ̃ Φ̃ᵀ without forming it.
    torch::Tensor degree = torch::bmm(u, u.sum(1, true).transpose(1, 2));  // B × N × 1
    unit_.push_back(u);
    inv_degree_.push_back(degree.reciprocal());
  }
}

torch::Tensor Affinities::matrix(std::size_t j) const {
  if (!dense_.empty()) return dense_.at(j);
  return torch::bmm(unit_.at(j), unit_.at(j).transpose(1, 2)) * inv_degree_.at(j);
}

torch::Tensor Affinities::apply(std::size_t j, const torch::Tensor& x) const {
  if (!dense_.empty()) return torch::bmm(dense_.at(j), x);
  return torch::bmm(unit_.at(j), torch::bmm(unit_.at(j).transpose(1, 2), x)) * inv_degree_.at(j);
}

torch::Tensor Affinities::apply_combined(const torch::Tensor& alpha, const torch::Tensor& x) const {
  torch::Tensor out = alpha[0] * apply(0, x);
  for (std::size_t j = 1; j < size(); ++j) out = out + alpha[static_cast<std::int64_t>(j)] * apply(j, x);
  return out;
}

torch::Tensor diffuse(const Affinities& m, const torch::Tensor& alpha, const torch::Tensor& x0, double beta, int steps) {
  torch::Tensor x = x0;
  for (int k = 0; k < steps; ++k) x = beta * m.apply_combined(alpha, x) + (1.0 - beta) * x0;
  return x;
}

}  // namespace densemtl::models::pap

namespace densemtl::models {

PapNetImpl::PapNetImpl(const ModelSpec& spec) : HRNetDecoderImpl(spec, /*fuse=*/true) {
  const std::int64_t feature_channels = initial_feature_channels(spec);  // the initial heads' features
  const config::View o = options();
  resolution_ = o.get_int("resolution");
  embedding_channels_ = o.get_int("embedding_channels");
  steps_ = static_cast<int>(o.get_int("steps"));
  beta_ = o.get_float("beta");
  normalisation_ = pap::parse_normalisation(o.get_string("normalisation"));
  factorised_ = o.get_string("affinity_impl") == "factorised";  // with row_sum: accepts() checked it

  add_initial_predictions();
  auto embeddings = register_module("embedding", torch::nn::ModuleDict());
  for (const auto& j : initial_) {
    Conv2d e = conv(feature_channels, embedding_channels_, 1, 1, 0, 1, /*bias=*/true);
    add_module(*embeddings, j, e.ptr());
    embedding.emplace(j, e);
    // Every task's affinity enters every main task's propagation.
    declare("embedding." + j, e.ptr(), Component::Other, ParameterGroup::of_task(j, /*exclusive=*/false));
  }
  // w_t = 0: every α_t starts uniform over the tasks.
  combination = register_parameter(
      "combination", torch::zeros({static_cast<std::int64_t>(spec.tasks.size()), static_cast<std::int64_t>(initial_.size())}));
  auto holder = std::make_shared<torch::nn::Module>();  // declares the bare parameter
  holder->register_parameter("combination", combination);
  declare("combination", holder, Component::Other, ParameterGroup::cross_task());
  auto rec = register_module("reconstruction", torch::nn::ModuleDict());
  for (const auto& t : spec.tasks) {
    torch::nn::Sequential r;
    Conv2d merge = conv(feature_channels + embedding_channels_, feature_channels, 1);
    r->push_back(merge);
    r->push_back(batch_norm(merge));
    r->push_back(torch::nn::ReLU());
    torch::nn::Sequential refine = bottleneck_pair(feature_channels, feature_channels);
    for (const auto& m : *refine) r->push_back(m);
    r->push_back(conv(feature_channels, spec.outputs.at(t), 1, 1, 0, 1, /*bias=*/true));
    add_module(*rec, t, r.ptr());
    declare("reconstruction." + t, r.ptr(), Component::Head, ParameterGroup::of_task(t));
    reconstruction.emplace(t, r);
  }
}

torch::Tensor PapNetImpl::alpha() const { return torch::softmax(combination, 1); }

ModelOutput PapNetImpl::forward(const torch::Tensor& image) {
  ModelOutput out;
  TaskPredictionsImpl::Out x = predict_initial(image, out);

  // Embeddings at the propagation resolution, as B × N × C_a.
  const std::int64_t b = image.size(0);
  const std::int64_t h = std::max<std::int64_t>(1, (image.size(2) + resolution_ - 1) / resolution_);
  const std::int64_t w = std::max<std::int64_t>(1, (image.size(3) + resolution_ - 1) / resolution_);
  std::vector<torch::Tensor> phi;
  std::map<std::string, torch::Tensor> x0;
  for (const auto& j : initial_) {
    torch::Tensor e = upsample(embedding.at(j)(x.features.at(j)), h, w);
    x0[j] = e.flatten(2).transpose(1, 2);  // B × N × C_a
    phi.push_back(x0[j]);
  }
  pap::Affinities m(phi, normalisation_, factorised_);
  // The N × N products are FLOPs too: Gram matrices once per task, then per step and main task
  // one product per task (dense), or two thin ones (factorised).
  const std::int64_t n = h * w, c = embedding_channels_, tasks = static_cast<std::int64_t>(initial_.size());
  const std::int64_t per_product = factorised_ ? 2 * n * c * c : n * n * c;
  MacCounter::add(b * tasks * (factorised_ ? n * c : n * n * c) +
                  b * static_cast<std::int64_t>(spec_.tasks.size()) * steps_ * tasks * per_product);

  torch::Tensor a = alpha();
  for (std::size_t i = 0; i < spec_.tasks.size(); ++i) {
    const std::string& t = spec_.tasks[i];
    torch::Tensor xk = pap::diffuse(m, a[static_cast<std::int64_t>(i)], x0.at(t), beta_, steps_);
    torch::Tensor map = xk.transpose(1, 2).reshape({b, c, h, w});
    const torch::Tensor& f = x.features.at(t);
    torch::Tensor y = reconstruction.at(t)->forward(torch::cat({f, upsample(map, f.size(2), f.size(3))}, 1));
    out.tasks[t] = upsample(y, image.size(2), image.size(3));
  }
  return out;
}

namespace {

std::string accepts(const ModelSpec& spec) {
  std::string why = accepts_hrnet_distillation(spec, "propagates affinities across tasks");
  if (!why.empty() || !spec.config) return why;
  const std::string section = "model.pap_net";
  if (!spec.config->has(section)) return "";
  const config::View o(*spec.config, section);
  if (o.get_string("affinity_impl") == "factorised" && o.get_string("normalisation") != "row_sum")
    return "model.pap_net.affinity_impl: factorised needs normalisation: row_sum (row_softmax has no factorised form)";
  return "";
}

std::vector<config::Spec> options() {
  using namespace config;
  return {
      integer("resolution", 8, 1, 64,
              "Propagation at 1/N of the input (8: NYUD 480x640 has N = 4800 pixels, 88 MiB per N x N matrix) [unconfirmed: "
              "the paper's resolution]"),
      integer("embedding_channels", 128, 1, 4096, "C_a: channels of the affinity embedding phi_t [unconfirmed]"),
      integer("steps", 3, 0, 100, "K: diffusion steps [unconfirmed]"),
      real("beta", 0.05, 0.0, 1.0, "beta: weight of the propagated term against the restart X^0 [unconfirmed]"),
      choice("normalisation", "row_softmax", {"row_softmax", "row_sum"},
             "rho: row softmax of inner products, or positive cosines divided by their row sum [unconfirmed]"),
      choice("affinity_impl", "dense", {"dense", "factorised"},
             "dense forms each N x N affinity; factorised (row_sum only) never does: O(N C) memory"),
  };
}

}  // namespace

DENSEMTL_REGISTER(ArchitectureEntry, {"pap_net", 70,
                                      "PAP-Net (Zhang et al. 2019): task-specific pixel affinities, combined across tasks and "
                                      "diffused through each task's features (HRNet-18)",
                                      architecture<PapNetImpl>, ArchitectureEntry::Role::MultiTask, options(), accepts, "PAP-Net"});

}  // namespace densemtl::models
