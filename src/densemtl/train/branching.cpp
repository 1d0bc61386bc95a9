#include "densemtl/train/branching.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <tuple>

#include "densemtl/core/device.h"
#include "densemtl/core/error.h"
#include "densemtl/core/log.h"
#include "densemtl/core/progress.h"
#include "densemtl/core/strings.h"
#include "densemtl/data/loader.h"

namespace densemtl::branching {

// --- Representation similarity analysis ---

torch::Tensor standardize_rows(const torch::Tensor& features) {
  const torch::Tensor f = features.to(torch::kFloat64).reshape({features.size(0), -1});
  const torch::Tensor x = f - f.mean(1, true);
  torch::Tensor norm = x.norm(2, 1, true);
  // Centring a constant row leaves rounding noise only: treat a row whose spread is below 1e-7 of
  // its magnitude as constant.
  torch::Tensor scale = f.abs().amax(1, true) * std::sqrt(static_cast<double>(x.size(1)));
  torch::Tensor varies = norm > scale * 1e-7;
  return torch::where(varies, x / norm.clamp_min(1e-300), torch::zeros_like(x)).to(torch::kFloat32);
}

RowStore::RowStore(std::int64_t width, std::int64_t rows, std::size_t memory_bytes, fs::path spill)
    : width_(width), rows_(rows), memory_(std::max<std::size_t>(memory_bytes, 1)) {
  const double bytes = 2.0 * static_cast<double>(width) * static_cast<double>(rows);
  if (bytes <= static_cast<double>(memory_)) {
    memory_rows_ = torch::empty({rows, width}, torch::kHalf);
  } else {
    spill_ = std::move(spill);
    fs::create_directories(spill_.parent_path());
    std::ofstream out(spill_, std::ios::binary | std::ios::trunc);
    if (!out) fail("{}: cannot write the feature cache", spill_.string());
  }
}

RowStore::~RowStore() {
  if (!spill_.empty()) {
    std::error_code ec;
    fs::remove(spill_, ec);
  }
}

void RowStore::append(const torch::Tensor& standardized) {
  const std::int64_t n = standardized.size(0);
  if (standardized.dim() != 2 || standardized.size(1) != width_ || filled_ + n > rows_)
    fail("internal: {} feature rows of {} values do not fit a store of {} x {} holding {}", n, standardized.numel() / std::max<std::int64_t>(n, 1),
         rows_, width_, filled_);
  torch::Tensor half = standardized.to(torch::kHalf).contiguous();
  if (spill_.empty()) {
    memory_rows_.narrow(0, filled_, n).copy_(half);
  } else {
    std::ofstream out(spill_, std::ios::binary | std::ios::app);
    out.write(static_cast<const char*>(half.data_ptr()), static_cast<std::streamsize>(half.numel() * 2));
    if (!out) fail("{}: cannot write the feature cache (disk full?)", spill_.string());
  }
  filled_ += n;
}

torch::Tensor RowStore::read(std::int64_t begin, std::int64_t end) const {
  if (spill_.empty()) return memory_rows_.narrow(0, begin, end - begin).to(torch::kFloat32);
  torch::Tensor half = torch::empty({end - begin, width_}, torch::kHalf);
  std::ifstream in(spill_, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(begin * width_ * 2));
  in.read(static_cast<char*>(half.data_ptr()), static_cast<std::streamsize>(half.numel() * 2));
  if (!in) fail("{}: cannot read the feature cache", spill_.string());
  return half.to(torch::kFloat32);
}

torch::Tensor RowStore::gram() const {
  if (filled_ != rows_) fail("internal: feature store holds {} of {} rows", filled_, rows_);
  // Two float32 chunks of rows in memory at a time.
  const auto chunk = std::max<std::int64_t>(1, static_cast<std::int64_t>(memory_ / (2 * 4 * static_cast<std::size_t>(width_))));
  torch::Tensor g = torch::empty({rows_, rows_}, torch::kFloat32);
  for (std::int64_t i = 0; i < rows_; i += chunk) {
    const std::int64_t i_end = std::min(rows_, i + chunk);
    torch::Tensor a = read(i, i_end);
    g.slice(0, i, i_end).slice(1, i, i_end).copy_(a.matmul(a.t()));
    for (std::int64_t j = i_end; j < rows_; j += chunk) {
      const std::int64_t j_end = std::min(rows_, j + chunk);
      torch::Tensor block = a.matmul(read(j, j_end).t());
      g.slice(0, i, i_end).slice(1, j, j_end).copy_(block);
      g.slice(0, j, j_end).slice(1, i, i_end).copy_(block.t());
    }
  }
  return g;
}

torch::Tensor dissimilarity(const torch::Tensor& gram) {
  torch::Tensor rdm = (1.0 - gram.to(torch::kFloat64)).clamp(0.0, 2.0);
  rdm = 0.5 * (rdm + rdm.t());
  rdm.fill_diagonal_(0.0);  // an image is identical to itself (also when its features are constant)
  return rdm;
}

torch::Tensor average_ranks(const torch::Tensor& values) {
  torch::Tensor v = values.to(torch::kFloat64).contiguous();
  const std::int64_t n = v.numel();
  auto [sorted, order] = v.sort(/*stable=*/true, 0, false);
  auto s = sorted.accessor<double, 1>();
  auto o = order.accessor<std::int64_t, 1>();
  torch::Tensor ranks = torch::empty({n}, torch::kFloat64);
  auto r = ranks.accessor<double, 1>();
  for (std::int64_t i = 0; i < n;) {
    std::int64_t j = i;
    while (j + 1 < n && s[j + 1] == s[i]) ++j;
    const double mean_rank = 0.5 * static_cast<double>(i + j) + 1.0;  // positions i..j hold ranks i+1..j+1
    for (std::int64_t k = i; k <= j; ++k) r[o[k]] = mean_rank;
    i = j + 1;
  }
  return ranks;
}

namespace {

// The strict upper triangle's ranks, centred and scaled to unit norm (zero when constant), so that
// the Spearman correlation of two RDMs is the dot product of theirs.
torch::Tensor standardized_ranks(const torch::Tensor& rdm) {
  const std::int64_t k = rdm.size(0);
  torch::Tensor idx = torch::triu_indices(k, k, 1);
  torch::Tensor ranks = average_ranks(rdm.to(torch::kFloat64).index({idx[0], idx[1]}));
  ranks = ranks - ranks.mean();
  double norm = ranks.norm().item<double>();
  return norm > 0 ? ranks / norm : torch::zeros_like(ranks);
}

}  // namespace

double rdm_correlation(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes() || a.dim() != 2 || a.size(0) != a.size(1) || a.size(0) < 3)
    fail("internal: RDMs must be two K x K matrices with K >= 3");
  return standardized_ranks(a).dot(standardized_ranks(b)).item<double>();
}

torch::Tensor affinity(const std::vector<torch::Tensor>& rdms) {
  const auto n = static_cast<std::int64_t>(rdms.size());
  std::vector<torch::Tensor> ranks;
  for (const auto& rdm : rdms) ranks.push_back(standardized_ranks(rdm));
  torch::Tensor a = torch::eye(n, torch::kFloat64);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = i + 1; j < n; ++j) {
      double v = std::clamp(ranks[static_cast<std::size_t>(i)].dot(ranks[static_cast<std::size_t>(j)]).item<double>(), -1.0, 1.0);
      a[i][j] = v;
      a[j][i] = v;
    }
  return a;
}

// --- Trees ---

namespace {

// Calls `visit` with every set partition of `n` items as restricted growth labels.
void set_partitions(std::size_t n, const std::function<void(const std::vector<int>&)>& visit) {
  std::vector<int> labels(n, 0);
  std::function<void(std::size_t, int)> go = [&](std::size_t i, int used) {
    if (i == n) {
      visit(labels);
      return;
    }
    for (int l = 0; l <= used && l < static_cast<int>(n); ++l) {
      labels[i] = l;
      go(i + 1, std::max(used, l + 1));
    }
  };
  if (n == 0) visit(labels);
  else go(0, 0);
}

// Calls `visit` with every partition that refines `parent` (labels over the same items).
void refinements(const std::vector<int>& parent, const std::function<void(const std::vector<int>&)>& visit) {
  const int groups = *std::max_element(parent.begin(), parent.end()) + 1;
  std::vector<std::vector<std::size_t>> members(static_cast<std::size_t>(groups));
  for (std::size_t i = 0; i < parent.size(); ++i) members[static_cast<std::size_t>(parent[i])].push_back(i);
  std::vector<int> labels(parent.size());
  const int stride = static_cast<int>(parent.size());
  std::function<void(std::size_t)> go = [&](std::size_t g) {
    if (g == members.size()) {
      visit(models::canonical_labels(labels));
      return;
    }
    set_partitions(members[g].size(), [&](const std::vector<int>& sub) {
      for (std::size_t k = 0; k < sub.size(); ++k) labels[members[g][k]] = static_cast<int>(g) * stride + sub[k];
      go(g + 1);
    });
  };
  go(0);
}

}  // namespace

std::vector<models::Tree> enumerate_trees(const std::vector<std::string>& tasks, std::size_t blocks, bool shared_first) {
  if (tasks.empty() || blocks == 0) fail("internal: a tree needs tasks and blocks");
  std::vector<models::Tree> out;
  std::vector<std::vector<int>> chain;
  std::function<void(const std::vector<int>&)> extend = [&](const std::vector<int>& partition) {
    chain.push_back(partition);
    if (chain.size() == blocks) out.push_back(models::Tree{tasks, chain});
    else refinements(partition, extend);
    chain.pop_back();
  };
  if (shared_first) extend(std::vector<int>(tasks.size(), 0));
  else set_partitions(tasks.size(), extend);
  return out;
}

double tree_cost(const models::Tree& tree, const std::vector<torch::Tensor>& affinities) {
  if (affinities.size() != tree.blocks()) fail("internal: {} affinity matrices for a tree of {} blocks", affinities.size(), tree.blocks());
  double cost = 0;
  for (std::size_t d = 0; d < tree.blocks(); ++d) {
    auto a = affinities[d].to(torch::kFloat64).contiguous();
    auto acc = a.accessor<double, 2>();
    double sum = 0;
    for (int i = 0; i < tree.instances(d); ++i) {
      std::vector<std::size_t> g = tree.group(d, i);
      double worst = 0;  // a singleton contributes 0
      for (std::size_t x = 0; x < g.size(); ++x)
        for (std::size_t y = x + 1; y < g.size(); ++y)
          worst = std::max(worst, 1.0 - acc[static_cast<std::int64_t>(g[x])][static_cast<std::int64_t>(g[y])]);
      sum += worst;
    }
    cost += sum / tree.instances(d);
  }
  return cost;
}

Budget parse_budget(const std::string& text, const models::BlockCosts& costs, const models::Tree& shared, const std::string& option) {
  std::string s;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  Budget b;
  b.text = text;
  auto strip = [&](const std::string& suffix) {
    if (s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0) {
      s.resize(s.size() - suffix.size());
      return true;
    }
    return false;
  };
  if (strip("flops")) b.kind = Budget::Kind::Flops;
  else strip("params");
  const bool relative = strip("x");
  double multiplier = 1;
  if (!relative && !s.empty()) {
    const char last = s.back();
    const std::string units = "kmgt";
    if (auto u = units.find(last); u != std::string::npos) {
      multiplier = std::pow(1000.0, static_cast<double>(u + 1));
      s.pop_back();
    }
  }
  char* end = nullptr;
  const double v = s.empty() ? 0 : std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !std::isfinite(v) || v <= 0)
    fail("{}: '{}' is not a budget: give parameters (25M, 2.5e7, 1.5x = 1.5 x the fully shared network) or FLOPs per image "
         "(40GFLOPs, 1.2xFLOPs)",
         option, text);
  if (relative)
    b.value = v * static_cast<double>(b.kind == Budget::Kind::Params ? costs.params(shared) : 2 * costs.macs(shared));
  else
    b.value = v * multiplier;
  return b;
}

std::vector<Candidate> rank_trees(const std::vector<models::Tree>& trees, const std::vector<torch::Tensor>& affinities,
                                  const models::BlockCosts& costs, const Budget& budget) {
  std::vector<Candidate> out;
  for (const auto& tree : trees) {
    Candidate c{tree, tree_cost(tree, affinities), costs.params(tree), costs.macs(tree)};
    const double spent = budget.kind == Budget::Kind::Params ? static_cast<double>(c.params) : 2.0 * static_cast<double>(c.macs);
    if (spent <= budget.value) out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(a.cost, a.params, a.tree.branch) < std::tie(b.cost, b.params, b.tree.branch);
  });
  return out;
}

// --- Measuring the affinities ---

OrderedJson Affinity::to_json() const {
  OrderedJson j;
  j["tasks"] = tasks;
  j["locations"] = locations;
  j["images"] = images;
  j["features"] = features;
  OrderedJson m = OrderedJson::array();
  for (const auto& a : matrices) {
    auto acc = a.to(torch::kFloat64).contiguous();
    OrderedJson rows = OrderedJson::array();
    for (std::int64_t i = 0; i < acc.size(0); ++i) {
      std::vector<double> row;
      for (std::int64_t k = 0; k < acc.size(1); ++k) row.push_back(acc[i][k].item<double>());
      rows.push_back(row);
    }
    m.push_back(rows);
  }
  j["matrices"] = m;
  return j;
}

namespace {

// One block output (every map of it, HRNet's four branches included) as one row per image.
torch::Tensor flatten_location(const models::Features& maps, int pool) {
  std::vector<torch::Tensor> parts;
  for (const auto& m : maps) {
    torch::Tensor x = pool > 0 ? torch::adaptive_avg_pool2d(m, {pool, pool}) : m;
    parts.push_back(x.to(torch::kCPU).contiguous().reshape({m.size(0), -1}));
  }
  return torch::cat(parts, 1);
}

}  // namespace

Affinity measure_affinity(const Experiment& e, const std::map<std::string, train::Run>& runs, const AffinityOptions& o) {
  std::unique_ptr<data::Dataset> dataset = e.open_dataset();
  const data::DatasetInfo& info = dataset->info();
  const std::vector<std::string> train_ids = train::training_split(e, *dataset).train;
  const std::size_t k = std::min(static_cast<std::size_t>(std::max(o.images, 0)), train_ids.size());
  if (k < 3) fail("{}: representation similarity needs at least 3 training images, {} available", e.source(), train_ids.size());
  if (k < static_cast<std::size_t>(o.images))
    log_warn("{} training images only: the analysis uses all of them ({} asked)", train_ids.size(), o.images);
  std::vector<std::string> ids;  // evenly spread over the training images
  for (std::size_t i = 0; i < k; ++i) ids.push_back(train_ids[i * train_ids.size() / k]);

  const c10::Device device = select_device(e.device, e.source());
  data::Pipeline pipeline(e.pipeline(info), /*train=*/false);
  data::LoaderOptions lo;
  lo.batch_size = e.eval.batch_size;
  lo.workers = e.data.workers;
  lo.prefetch = e.data.prefetch;
  lo.seed = e.seed;

  Affinity a;
  a.tasks = e.tasks.main;
  a.images = static_cast<std::int64_t>(k);
  a.features = o.pool > 0 ? fmt::format("block outputs average-pooled to {}x{}", o.pool, o.pool) : "flattened block outputs";
  const fs::path cache = o.cache.empty() ? fs::temp_directory_path() : o.cache;
  std::vector<std::vector<torch::Tensor>> rdms;  // [block][task]
  for (const auto& task : e.tasks.main) {
    models::Architecture model = train::load_run_weights(runs.at(task), info);
    model->to(device);
    model->eval();
    std::shared_ptr<models::BackboneImpl> backbone = model->backbones().front().second;
    const std::vector<std::size_t> ends = backbone->block_ends();
    if (a.locations.empty()) {
      std::size_t first = 0;
      const std::vector<std::string> stages = backbone->stage_names();
      for (std::size_t end : ends) {
        std::vector<std::string> names(stages.begin() + static_cast<std::ptrdiff_t>(first), stages.begin() + static_cast<std::ptrdiff_t>(end));
        a.locations.push_back(join(names, "+"));
        first = end;
      }
      rdms.resize(ends.size());
    }
    const auto per_store = static_cast<std::size_t>(o.memory_gb * 1024.0 * 1024.0 * 1024.0 / static_cast<double>(ends.size()));
    std::vector<std::unique_ptr<RowStore>> stores(ends.size());
    data::Loader loader(*dataset, ids, {task}, pipeline, lo);
    loader.start_epoch(0);
    ProgressBar bar("features " + task, static_cast<std::int64_t>(k), "img");
    torch::NoGradGuard no_grad;
    while (auto batch = loader.next()) {
      models::Features x{batch->image.to(device)};
      std::size_t s = 0;
      for (std::size_t d = 0; d < ends.size(); ++d) {
        for (; s < ends[d]; ++s) x = backbone->forward_stage(s, x);
        torch::Tensor rows = standardize_rows(flatten_location(x, o.pool));
        if (!stores[d]) {
          fs::path spill = cache / fmt::format("densemtl-rsa-{}-{}-{}.f16", getpid(), task, d + 1);
          stores[d] = std::make_unique<RowStore>(rows.size(1), static_cast<std::int64_t>(k), per_store, spill);
          if (stores[d]->spilled())
            log_info("{} at {}: {} features per image exceed the memory share; caching them in {}", task, a.locations[d], rows.size(1),
                     spill.string());
        }
        stores[d]->append(rows);
      }
      bar.advance(batch->size());
    }
    bar.finish();
    for (std::size_t d = 0; d < ends.size(); ++d) {
      rdms[d].push_back(dissimilarity(stores[d]->gram()));
      stores[d].reset();
    }
  }
  for (const auto& per_task : rdms) a.matrices.push_back(affinity(per_task));
  return a;
}

}  // namespace densemtl::branching
