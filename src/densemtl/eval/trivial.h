// The trivial predictor of every task, as a floor to beat: a constant prediction from the
// training split's statistics (the majority class, the majority saliency value, the mean depth
// over valid pixels, the mean normal direction, no boundaries), scored like any prediction.
#pragma once

#include <string>
#include <vector>

#include "densemtl/core/json.h"
#include "densemtl/data/dataset.h"
#include "densemtl/eval/metric.h"

namespace densemtl::eval {

OrderedJson trivial_baseline(const data::Dataset& dataset, const std::vector<std::string>& train_ids,
                             const std::vector<std::string>& eval_ids, const std::vector<std::string>& tasks,
                             const MetricOptions& options, std::size_t max_train_images = 300);

}  // namespace densemtl::eval
