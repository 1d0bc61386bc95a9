// The trivial predictor of every task, as a floor to beat: each task's constant prediction from
// the training split's statistics (tasks::ConstantPredictor: the majority class, the majority
// binary value, the mean depth over valid pixels, the mean normal direction), scored like any
// prediction.
#pragma once

#include <string>
#include <vector>

#include "densemtl/core/json.h"
#include "densemtl/data/dataset.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::eval {

OrderedJson trivial_baseline(const data::Dataset& dataset, const std::vector<std::string>& train_ids,
                             const std::vector<std::string>& eval_ids, const tasks::TaskSet& tasks, int threads = 0,
                             std::size_t max_train_images = 300);

}  // namespace densemtl::eval
