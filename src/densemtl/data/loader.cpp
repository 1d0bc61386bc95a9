#include "densemtl/data/loader.h"

#include <torch/torch.h>

#include "densemtl/core/error.h"
#include "densemtl/core/rng.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::data {

namespace {

// HWC float -> CHW slice of `dst`.
void copy_hwc(const cv::Mat& src, float* dst) {
  const int h = src.rows, w = src.cols, c = src.channels();
  const std::size_t plane = static_cast<std::size_t>(h) * static_cast<std::size_t>(w);
  for (int y = 0; y < h; ++y) {
    const float* row = src.ptr<float>(y);
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        dst[static_cast<std::size_t>(k) * plane + static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x)] =
            row[x * c + k];
  }
}

}  // namespace

Batch collate(const std::vector<Sample>& samples, const std::vector<cv::Size>& original_sizes,
              const std::vector<std::string>& tasks, bool pin_memory) {
  if (samples.empty()) fail("collate: empty batch");
  const cv::Size size = samples.front().image.size();
  const auto n = static_cast<std::int64_t>(samples.size());
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).pinned_memory(pin_memory);
  Batch b;
  b.image = torch::empty({n, 3, size.height, size.width}, opts);
  for (const auto& t : tasks) {
    int c = tasks::get(t).label_channels();
    b.labels[t] = torch::empty({n, c, size.height, size.width}, opts);
    b.present[t] = torch::zeros({n}, torch::kBool);
  }
  for (std::int64_t i = 0; i < n; ++i) {
    const Sample& s = samples[static_cast<std::size_t>(i)];
    if (s.image.size() != size) fail("collate: {} is {}x{}, the batch is {}x{}", s.id, s.image.rows, s.image.cols, size.height, size.width);
    copy_hwc(s.image, b.image[i].data_ptr<float>());
    for (const auto& t : tasks) {
      at::Tensor slot = b.labels[t][i];
      auto it = s.labels.find(t);
      if (it == s.labels.end()) {
        slot.fill_(tasks::Task::kIgnore);
      } else {
        if (it->second.channels() != slot.size(0)) fail("collate: {} has a {}-channel {} label", s.id, it->second.channels(), t);
        copy_hwc(it->second, slot.data_ptr<float>());
        b.present[t][i] = true;
      }
    }
    b.ids.push_back(s.id);
    b.original_sizes.push_back(original_sizes[static_cast<std::size_t>(i)]);
  }
  return b;
}

std::set<std::string> Batch::unlabelled() const {
  std::set<std::string> out;
  for (const auto& [t, p] : present)
    if (!p.any().item<bool>()) out.insert(t);
  return out;
}

std::int64_t Batch::labelled_count(const std::string& task) const {
  auto it = present.find(task);
  if (it == present.end()) fail("internal: the batch has no task '{}'", task);
  return it->second.sum().item<std::int64_t>();
}

Loader::Loader(const Dataset& dataset, std::vector<std::string> ids, std::vector<std::string> tasks, Pipeline pipeline,
               LoaderOptions options)
    : dataset_(dataset), ids_(std::move(ids)), tasks_(std::move(tasks)), pipeline_(std::move(pipeline)), o_(options) {
  if (o_.batch_size < 1) fail("batch size must be >= 1");
  if (ids_.empty()) fail("{}: no samples to load", dataset_.info().root.string());
  if (o_.shards < 1 || o_.shard < 0 || o_.shard >= o_.shards) fail("internal: loader shard {} of {}", o_.shard, o_.shards);
  if (o_.split_batches && o_.batch_size % o_.shards != 0)
    fail("a batch of {} images cannot be split evenly over {} processes", o_.batch_size, o_.shards);
}

Loader::~Loader() { stop(); }

std::size_t Loader::batches_per_epoch() const {
  std::size_t n = ids_.size(), b = static_cast<std::size_t>(o_.batch_size);
  std::size_t all = o_.drop_last ? n / b : (n + b - 1) / b;
  if (o_.split_batches || o_.shards == 1) return all;
  const auto shards = static_cast<std::size_t>(o_.shards), shard = static_cast<std::size_t>(o_.shard);
  return all / shards + (shard < all % shards ? 1 : 0);
}

std::pair<std::size_t, std::size_t> Loader::batch_range(std::size_t b) const {
  const std::size_t bs = static_cast<std::size_t>(o_.batch_size), shards = static_cast<std::size_t>(o_.shards);
  const std::size_t shard = static_cast<std::size_t>(o_.shard);
  if (!o_.split_batches) {
    const std::size_t g = b * shards + shard;
    return {g * bs, std::min(ids_.size(), (g + 1) * bs)};
  }
  const std::size_t begin = b * bs, end = std::min(ids_.size(), (b + 1) * bs);
  const std::size_t part = (end - begin + shards - 1) / shards;
  return {std::min(end, begin + shard * part), std::min(end, begin + (shard + 1) * part)};
}

std::vector<std::size_t> Loader::order(int epoch) const {
  std::vector<std::size_t> order(ids_.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (o_.shuffle) {
    Rng rng({o_.seed, 0x0de5ull, static_cast<std::uint64_t>(epoch)});
    rng.shuffle(order);
  }
  return order;
}

Batch Loader::make_batch(std::size_t b) const {
  std::vector<Sample> samples;
  std::vector<cv::Size> sizes;
  std::vector<std::map<std::string, cv::Mat>> raw_labels;
  const auto [begin, end] = batch_range(b);
  for (std::size_t p = begin; p < end; ++p) {
    Sample raw = dataset_.load(ids_[order_[p]], tasks_);
    sizes.push_back(raw.image.size());
    if (o_.keep_raw_labels) {
      raw_labels.emplace_back();
      for (const auto& [task, label] : raw.labels) raw_labels.back()[task] = raw.ground_truth(task)->clone();
    }
    Rng rng({o_.seed, 0xa09ull, static_cast<std::uint64_t>(epoch_), static_cast<std::uint64_t>(p)});
    samples.push_back(pipeline_(std::move(raw), rng));
  }
  Batch batch = collate(samples, sizes, tasks_, o_.pin_memory);
  batch.raw_labels = std::move(raw_labels);
  return batch;
}

void Loader::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  stopping_ = false;
}

void Loader::start_epoch(int epoch) {
  stop();
  epoch_ = epoch;
  order_ = order(epoch);
  num_batches_ = batches_per_epoch();
  next_claim_ = next_out_ = 0;
  ready_.clear();
  errors_.clear();
  for (int w = 0; w < o_.workers; ++w) workers_.emplace_back([this] { worker_loop(); });
}

void Loader::worker_loop() {
  const std::size_t window = static_cast<std::size_t>(std::max(1, o_.workers * o_.prefetch));
  while (true) {
    std::size_t b;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || next_claim_ >= num_batches_ || next_claim_ < next_out_ + window; });
      if (stopping_ || next_claim_ >= num_batches_) return;
      b = next_claim_++;
    }
    std::optional<Batch> batch;
    std::exception_ptr error;
    try {
      batch = make_batch(b);
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (error) errors_[b] = error;
      else ready_[b] = std::move(*batch);
    }
    cv_.notify_all();
  }
}

std::optional<Batch> Loader::next() {
  if (next_out_ >= num_batches_) return std::nullopt;
  if (o_.workers == 0) return make_batch(next_out_++);
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return ready_.count(next_out_) || errors_.count(next_out_); });
  if (errors_.count(next_out_)) {
    std::exception_ptr e = errors_[next_out_];
    lock.unlock();
    stop();
    std::rethrow_exception(e);
  }
  Batch b = std::move(ready_[next_out_]);
  ready_.erase(next_out_);
  ++next_out_;
  lock.unlock();
  cv_.notify_all();
  return b;
}

}  // namespace densemtl::data
