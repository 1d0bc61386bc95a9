// MATLAB .mat files through matio (v5 and, since Debian's matio is built with HDF5, v7.3).
// A variable is read into a small tree (numeric matrices as cv::Mat, strings, struct arrays,
// cells) so readers can walk PASCAL-Part's nested `anno` struct with clear errors.
#pragma once

#include <opencv2/core.hpp>

#include <string>
#include <utility>
#include <vector>

#include "densemtl/core/fs.h"

namespace densemtl::matfile {

struct Value {
  enum class Kind { Numeric, Char, Struct, Cell, Empty };
  Kind kind = Kind::Empty;
  bool logical = false;
  // Numeric: a 2-D matrix in row-major order, rows = MATLAB's first dimension. Type follows the
  // MATLAB class (CV_64F double, CV_32F single, CV_8U uint8/logical, CV_16U, CV_32S, ...).
  cv::Mat matrix;
  std::string text;                               // Char
  std::vector<std::string> field_names;           // Struct
  std::vector<std::vector<Value>> elements;       // Struct: [element][field]; Cell: [i][0]
  std::vector<std::size_t> dims;

  std::size_t count() const { return elements.size(); }
  bool has_field(const std::string& name) const;
  // Field `name` of element `index`; throws naming the field when it is missing.
  const Value& field(const std::string& name, std::size_t index = 0) const;
  // A numeric scalar.
  double scalar() const;

  static Value numeric(const cv::Mat& matrix, bool logical = false);
  static Value string(const std::string& text);
  static Value structure(std::vector<std::string> field_names, std::vector<std::vector<Value>> elements);
};

// Reads variable `name`; a missing file, a file that is not a .mat, or a missing variable is a
// densemtl::Error that names the file and lists the variables it does have.
Value read(const fs::path& path, const std::string& name);
std::vector<std::string> variables(const fs::path& path);
// Writes the variables to a new file (MATLAB v5 unless `v73`), atomically.
void write(const fs::path& path, const std::vector<std::pair<std::string, Value>>& vars, bool v73 = false);

// Reads a 2-D numeric variable as CV_32F (e.g. PASCAL-Context's LabelMap).
cv::Mat read_matrix(const fs::path& path, const std::string& name);

}  // namespace densemtl::matfile
