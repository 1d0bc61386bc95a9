// An experiment: one YAML file (+ --set overrides) validated once against the experiment schema
// and read into typed sections that the trainer, the model builder, the balancer, evaluation, the
// report and the CLI share. The schema's choice lists and method sections come from the
// registries (tasks, architectures, balancers), so a new method's options appear here without an
// edit; `densemtl train --help-config` prints the schema as a table.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "densemtl/balancing/balancer.h"
#include "densemtl/core/config.h"
#include "densemtl/data/dataset.h"
#include "densemtl/data/pipeline.h"
#include "densemtl/models/architectures/architecture.h"
#include "densemtl/tasks/registry.h"

namespace densemtl {

const config::Spec& experiment_schema();

struct Experiment {
  std::shared_ptr<const config::Config> config;  // the resolved config (a run's config.yaml)
  std::string name;                              // "" when the file does not set one
  std::uint64_t seed = 0;
  int threads = 0;
  std::string device = "cpu";

  struct Data {
    std::string dataset;  // synthetic | nyud | pascal | mtan
    fs::path root;
    std::string train_split, val_split, test_split;
    double val_share = 0.1;
    std::vector<long long> input_size;  // [H, W] or empty
    std::size_t max_train_images = 0;
    int workers = 2, prefetch = 2;
  } data;

  struct Tasks {
    std::vector<std::string> main, aux;  // canonical order
    std::vector<std::string> all;        // main then the auxiliary tasks not in main, canonical
    std::map<std::string, double> loss_weights;
  } tasks;

  struct Model {
    std::string architecture, head, backbone;
    double width = 1.0;
    bool dilated = true, channels_last = true;
    std::string weights, backbone_weights;  // files, "" when not set
  } model;

  std::string balancer;

  struct Train {
    int epochs = 1, batch_size = 8, eval_every = 1;
    bool drop_last = true, amp = false, sync_bn = false;
  } train;

  struct Distributed {
    std::string backend = "auto";
    double timeout = 300, bucket_mb = 25;
    bool overlap = true;
  } distributed;

  struct Eval {
    int batch_size = 8;
  } eval;

  // Reads and validates `file` with `overrides`; cross-key checks included (an architecture's
  // accepted tasks, loss weights of tasks the model does not have, amp without a GPU, ...).
  static Experiment load(const fs::path& file, const std::vector<std::string>& overrides = {});
  // The same from an already resolved config (a run's config.yaml).
  static Experiment from(const config::Config& config);

  const std::string& source() const { return config->source(); }
  // The configured tasks (main and auxiliary), each with its options tasks.<name>.*.
  tasks::TaskSet task_set() const;
  // The model to build on `dataset` (its output channels come from the dataset's label space).
  models::ModelSpec model_spec(const data::DatasetInfo& dataset) const;
  // What the balancer is built from.
  balancing::Setup balancer_setup() const;
  // The dataset (data.root, relative paths taken from the working directory).
  std::unique_ptr<data::Dataset> open_dataset() const;
  // The dataset description: read from data.root when it exists; otherwise the standard tables
  // of NYUD, PASCAL-Context or mtan (so that `info --config` and `import` work without the data).
  data::DatasetInfo dataset_info() const;
  // Network input size: data.input_size, else the dataset's default size.
  cv::Size input_size(const data::DatasetInfo& info) const;
  // Pipeline options for training (augmentations on) or evaluation.
  data::PipelineOptions pipeline(const data::DatasetInfo& info) const;
};

}  // namespace densemtl
