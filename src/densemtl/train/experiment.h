// The experiment schema: every key an experiment YAML under configs/ may hold, with its type,
// range, default and meaning. `densemtl train --help-config` prints it as a table.
#pragma once

#include "densemtl/core/config.h"
#include "densemtl/data/dataset.h"
#include "densemtl/data/pipeline.h"

namespace densemtl {

const config::Spec& experiment_schema();

// The dataset an experiment names (data.root, relative paths taken from the working directory).
std::unique_ptr<data::Dataset> open_experiment_dataset(const config::Config& cfg);
// Network input size: data.input_size, else the dataset's default size.
cv::Size experiment_input_size(const config::Config& cfg, const data::DatasetInfo& info);
// Pipeline options for training (augmentations on) or evaluation.
data::PipelineOptions experiment_pipeline(const config::Config& cfg, const data::DatasetInfo& info);

}  // namespace densemtl
