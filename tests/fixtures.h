// Tiny datasets written in the real on-disk formats (JPEG, PNG, .npy v1.0, MATLAB v5 .mat with
// the real variable names and struct layout), for the reader and pipeline tests.
#pragma once

#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "densemtl/core/fs.h"

namespace densemtl::test {

// NYUD-MT layout: gt_sets/{train,val}.txt, images/*.jpg, segmentation/*.png (0 = ignore,
// k = class k-1), depth/*.npy, normals/*.npy (H x W x 3), edge/*.npy. Image i has size h x w and
// segmentation value (i + x) % 41 at column x, depth 1 + x/10 with a 0 (invalid) at (0, 0).
void write_nyud_fixture(const fs::path& root, int n_train = 3, int n_val = 2, int h = 12, int w = 16);

// PASCAL-MT layout with two images: "2008_000001" (a person with parts, Context classes
// including invalid-normals ones) and "2008_000002" (no person, no parts file).
void write_pascal_fixture(const fs::path& root, int h = 10, int w = 14);

// mtan layout: {train,val}/{image,label,depth,normal}/<i>.npy.
void write_mtan_fixture(const fs::path& root, int n = 2, int h = 8, int w = 12);

}  // namespace densemtl::test
