// Batches for training and evaluation: worker threads read and augment samples ahead of the
// consumer (prefetching), and batches come out in order. The sample order of an epoch and every
// augmentation draw depend only on (seed, epoch, position), never on the worker count or timing,
// so a seed reproduces the exact same batches.
#pragma once

#include <ATen/core/Tensor.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "densemtl/data/dataset.h"
#include "densemtl/data/pipeline.h"

namespace densemtl::data {

struct Batch {
  at::Tensor image;                           // [B, 3, H, W] float32, normalised
  std::map<std::string, at::Tensor> labels;   // [B, C, H, W] float32, 255 = ignore
  std::map<std::string, at::Tensor> present;  // [B] bool: the image has a label for the task
  std::vector<std::string> ids;
  std::vector<cv::Size> original_sizes;       // (width, height) of each image before resizing
  // The labels as read, at the original resolution (evaluation loaders, keep_raw_labels).
  std::vector<std::map<std::string, cv::Mat>> raw_labels;
  std::int64_t size() const { return static_cast<std::int64_t>(ids.size()); }
  // The tasks none of the batch's images has a label for.
  std::set<std::string> unlabelled() const;
  // How many of the batch's images have a label for `task`.
  std::int64_t labelled_count(const std::string& task) const;
};

// Stacks prepared samples (output of a Pipeline) into a batch. A sample without a label for a
// task gets an all-ignore label and present = false.
Batch collate(const std::vector<Sample>& samples, const std::vector<cv::Size>& original_sizes,
              const std::vector<std::string>& tasks, bool pin_memory = false);

struct LoaderOptions {
  int batch_size = 8;
  bool shuffle = false;
  bool drop_last = false;
  int workers = 2;       // 0: load in the calling thread
  int prefetch = 2;      // batches in flight per worker
  std::uint64_t seed = 0;
  bool pin_memory = false;
  bool keep_raw_labels = false;  // also hand out the untransformed labels (for metrics)
  // One process of a multi-process run reads shard `shard` of `shards`. Training
  // (split_batches): every global batch of batch_size images is split into `shards` contiguous
  // parts, so that the processes' batches together are exactly the one-process batch (same order,
  // same augmentation draws). Evaluation (!split_batches): whole batches are dealt out in turn.
  int shards = 1, shard = 0;
  bool split_batches = true;
};

class Loader {
 public:
  Loader(const Dataset& dataset, std::vector<std::string> ids, std::vector<std::string> tasks, Pipeline pipeline,
         LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Starts an epoch (stops any running one). Order and augmentation depend on (seed, epoch).
  void start_epoch(int epoch);
  // The next batch of the epoch, or nothing at its end. Rethrows a worker's error.
  std::optional<Batch> next();
  std::size_t batches_per_epoch() const;
  // The positions (into order()) of this shard's part of batch `b` of the epoch.
  std::pair<std::size_t, std::size_t> batch_range(std::size_t b) const;
  std::size_t samples() const { return ids_.size(); }
  // The sample order of an epoch (positions into the id list).
  std::vector<std::size_t> order(int epoch) const;

 private:
  Batch make_batch(std::size_t b) const;
  void stop();
  void worker_loop();

  const Dataset& dataset_;
  std::vector<std::string> ids_, tasks_;
  Pipeline pipeline_;
  LoaderOptions o_;

  int epoch_ = 0;
  std::vector<std::size_t> order_;
  std::size_t num_batches_ = 0, next_claim_ = 0, next_out_ = 0;
  std::map<std::size_t, Batch> ready_;
  std::map<std::size_t, std::exception_ptr> errors_;
  bool stopping_ = false;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
};

}  // namespace densemtl::data
