// Dataset readers, one per on-disk layout. Use data::open_dataset() rather than these directly.
#pragma once

#include <memory>

#include "densemtl/data/dataset.h"

namespace densemtl::data {

// NYUD-MT layout (gt_sets/, images/, segmentation/, depth/, normals/, edge/), plus the extra
// folders and meta.json of the procedural scenes dataset (sal/, human_parts/).
std::unique_ptr<Dataset> open_nyud(const fs::path& root);
// PASCAL-MT layout (JPEGImages/, ImageSets/Context/, semseg/, pascal-context/trainval/*.mat,
// human_parts/*.mat, normals_distill/, sal_distill/).
std::unique_ptr<Dataset> open_pascal_context(const fs::path& root);
// mtan's NYUv2 layout: <split>/{image,label,depth,normal}/<index>.npy.
std::unique_ptr<Dataset> open_mtan_nyu(const fs::path& root);

// The label space and conventions of a standard dataset without reading it (tasks, classes,
// default size, boundary tolerance), for describing a model before the data is there.
DatasetInfo standard_info(Format format, const fs::path& root);

// Class tables.
const std::vector<std::string>& nyu40_class_names();
const std::vector<std::string>& voc_class_names();
const std::vector<std::string>& pascal_part_names();
const std::vector<std::string>& mtan13_class_names();

}  // namespace densemtl::data
