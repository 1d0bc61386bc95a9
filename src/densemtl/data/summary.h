// `densemtl info --dataset`: counts per split, tasks present, image size, class shares, and with
// --check a read of every file of every sample, listing each bad one.
#pragma once

#include <string>
#include <vector>

#include "densemtl/core/json.h"
#include "densemtl/data/dataset.h"

namespace densemtl::data {

struct DatasetReport {
  OrderedJson json;                   // machine-readable summary
  std::string text;                   // the same for people
  std::vector<std::string> problems;  // one line per bad sample or split (check mode)
};

// Without `check`, class shares come from up to `sample_limit` evenly spread training images.
DatasetReport describe(const Dataset& dataset, bool check, int threads, int sample_limit = 300);

}  // namespace densemtl::data
