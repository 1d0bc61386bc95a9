#include "densemtl/vision/io/mat.h"

#include <matio.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"

namespace densemtl::matfile {

namespace {

void silence_matio() {
  static std::once_flag once;
  std::call_once(once, [] { Mat_LogInitFunc("densemtl", [](int, char*) {}); });
}

struct MatCloser {
  void operator()(mat_t* m) const { if (m) Mat_Close(m); }
};
struct VarFreer {
  void operator()(matvar_t* v) const { if (v) Mat_VarFree(v); }
};
using MatPtr = std::unique_ptr<mat_t, MatCloser>;
using VarPtr = std::unique_ptr<matvar_t, VarFreer>;

MatPtr open(const fs::path& path) {
  silence_matio();
  require_file(path, ".mat file");
  MatPtr mat(Mat_Open(path.c_str(), MAT_ACC_RDONLY));
  if (!mat) fail("{}: not a readable MATLAB .mat file", path.string());
  return mat;
}

int cv_depth(matio_classes c) {
  switch (c) {
    case MAT_C_DOUBLE: return CV_64F;
    case MAT_C_SINGLE: return CV_32F;
    case MAT_C_UINT8: return CV_8U;
    case MAT_C_INT8: return CV_8S;
    case MAT_C_UINT16: return CV_16U;
    case MAT_C_INT16: return CV_16S;
    case MAT_C_INT32: return CV_32S;
    default: return -1;
  }
}

Value convert(matvar_t* v, const std::string& where);

// matio takes dimensions and data sizes from the file without checking them against each other: a
// corrupt file can declare more elements than its data holds. Returns the element count after
// checking that the data holds `element_size` bytes for each (without overflow).
std::size_t checked_elements(const matvar_t* v, std::size_t element_size, const std::string& where) {
  std::size_t n = 1, bytes = 0;
  for (int i = 0; i < v->rank; ++i)
    if (__builtin_mul_overflow(n, static_cast<std::size_t>(v->dims[i]), &n)) fail("{}: corrupt variable (dimensions overflow)", where);
  if (__builtin_mul_overflow(n, element_size, &bytes) || (v->data != nullptr && bytes > v->nbytes))
    fail("{}: corrupt variable ({} bytes of data for {} elements)", where, v->nbytes, n);
  return n;
}

Value convert_numeric(matvar_t* v, const std::string& where) {
  Value out;
  out.kind = Value::Kind::Numeric;
  out.logical = v->isLogical != 0;
  if (v->isComplex) fail("{}: complex data is not supported", where);
  if (v->rank > 2) fail("{}: expected a 2-D matrix, got {} dimensions", where, v->rank);
  if (v->rank < 1) fail("{}: corrupt variable (no dimensions)", where);
  int depth = cv_depth(v->class_type);
  std::size_t stored = depth >= 0 ? static_cast<std::size_t>(CV_ELEM_SIZE1(depth)) : 0;
  if (depth < 0) {
    if (v->class_type == MAT_C_UINT32 || v->class_type == MAT_C_INT64 || v->class_type == MAT_C_UINT64) depth = CV_64F;
    else fail("{}: unsupported MATLAB class {}", where, static_cast<int>(v->class_type));
    stored = v->class_type == MAT_C_UINT32 ? 4 : 8;
  }
  checked_elements(v, stored, where);
  if (v->dims[0] > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
      (v->rank > 1 && v->dims[1] > static_cast<std::size_t>(std::numeric_limits<int>::max())))
    fail("{}: matrix of {} x {} is too large", where, v->dims[0], v->rank > 1 ? v->dims[1] : 1);
  int rows = static_cast<int>(v->dims[0]), cols = v->rank > 1 ? static_cast<int>(v->dims[1]) : 1;
  if (rows == 0 || cols == 0 || v->data == nullptr) {
    out.matrix = cv::Mat(rows, cols, CV_MAKETYPE(depth, 1));
    return out;
  }
  // MATLAB stores columns first: view the data as cols x rows and transpose.
  cv::Mat col_major;
  if (v->class_type == MAT_C_UINT32 || v->class_type == MAT_C_INT64 || v->class_type == MAT_C_UINT64) {
    col_major.create(cols, rows, CV_64F);
    auto* dst = col_major.ptr<double>();
    std::size_t n = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
    for (std::size_t i = 0; i < n; ++i) {
      if (v->class_type == MAT_C_UINT32) dst[i] = static_cast<const std::uint32_t*>(v->data)[i];
      else if (v->class_type == MAT_C_INT64) dst[i] = static_cast<double>(static_cast<const std::int64_t*>(v->data)[i]);
      else dst[i] = static_cast<double>(static_cast<const std::uint64_t*>(v->data)[i]);
    }
  } else {
    col_major = cv::Mat(cols, rows, CV_MAKETYPE(depth, 1), v->data).clone();
  }
  cv::transpose(col_major, out.matrix);
  return out;
}

std::string convert_char(matvar_t* v, const std::string& where) {
  const bool wide = v->data_type == MAT_T_UINT16 || v->data_type == MAT_T_UTF16;
  const std::size_t n = checked_elements(v, wide ? 2 : 1, where);
  std::string s;
  if (!v->data) return s;
  if (wide) {
    const auto* d = static_cast<const std::uint16_t*>(v->data);
    for (std::size_t i = 0; i < n; ++i) s += d[i] < 128 ? static_cast<char>(d[i]) : '?';
  } else {
    s.assign(static_cast<const char*>(v->data), n);
  }
  return s;
}

Value convert(matvar_t* v, const std::string& where) {
  Value out;
  for (int i = 0; i < v->rank; ++i) out.dims.push_back(v->dims[i]);
  switch (v->class_type) {
    case MAT_C_CHAR:
      out.kind = Value::Kind::Char;
      out.text = convert_char(v, where);
      return out;
    case MAT_C_STRUCT: {
      out.kind = Value::Kind::Struct;
      unsigned nf = Mat_VarGetNumberOfFields(v);
      const std::size_t n = checked_elements(v, std::max(1U, nf) * sizeof(matvar_t*), where);  // a pointer per element and field
      char* const* names = Mat_VarGetStructFieldnames(v);
      for (unsigned f = 0; f < nf; ++f) out.field_names.emplace_back(names[f]);
      out.elements.resize(n);
      for (std::size_t i = 0; i < n; ++i) {
        for (unsigned f = 0; f < nf; ++f) {
          matvar_t* fv = Mat_VarGetStructFieldByIndex(v, f, i);
          out.elements[i].push_back(fv ? convert(fv, where + "." + out.field_names[f]) : Value{});
        }
      }
      return out;
    }
    case MAT_C_CELL: {
      out.kind = Value::Kind::Cell;
      const std::size_t n = checked_elements(v, sizeof(matvar_t*), where);
      out.elements.resize(n);
      for (std::size_t i = 0; i < n; ++i) {
        matvar_t* c = Mat_VarGetCell(v, static_cast<int>(i));
        out.elements[i].push_back(c ? convert(c, where) : Value{});
      }
      return out;
    }
    case MAT_C_EMPTY:
      return out;
    default:
      return convert_numeric(v, where);
  }
}

matvar_t* create(const std::string& name, const Value& value);

matvar_t* create_numeric(const std::string& name, const Value& value) {
  cv::Mat col_major;
  cv::transpose(value.matrix, col_major);
  col_major = col_major.clone();
  size_t dims[2] = {static_cast<size_t>(value.matrix.rows), static_cast<size_t>(value.matrix.cols)};
  matio_classes c;
  matio_types t;
  switch (value.matrix.depth()) {
    case CV_64F: c = MAT_C_DOUBLE; t = MAT_T_DOUBLE; break;
    case CV_32F: c = MAT_C_SINGLE; t = MAT_T_SINGLE; break;
    case CV_8U: c = MAT_C_UINT8; t = MAT_T_UINT8; break;
    case CV_16U: c = MAT_C_UINT16; t = MAT_T_UINT16; break;
    case CV_32S: c = MAT_C_INT32; t = MAT_T_INT32; break;
    default: fail("{}: cannot write this matrix type to .mat", name);
  }
  return Mat_VarCreate(name.c_str(), c, t, 2, dims, col_major.data, value.logical ? MAT_F_LOGICAL : 0);
}

matvar_t* create(const std::string& name, const Value& value) {
  switch (value.kind) {
    case Value::Kind::Numeric:
      return create_numeric(name, value);
    case Value::Kind::Char: {
      // MATLAB itself stores characters as UTF-16 code units.
      std::vector<std::uint16_t> units(value.text.begin(), value.text.end());
      size_t dims[2] = {1, value.text.size()};
      return Mat_VarCreate(name.c_str(), MAT_C_CHAR, MAT_T_UINT16, 2, dims, units.data(), 0);
    }
    case Value::Kind::Struct: {
      std::vector<const char*> names;
      for (const auto& f : value.field_names) names.push_back(f.c_str());
      names.push_back(nullptr);
      size_t dims[2] = {1, value.elements.size()};
      matvar_t* s = Mat_VarCreateStruct2(name.c_str(), 2, dims, names.data());
      for (std::size_t i = 0; i < value.elements.size(); ++i)
        for (std::size_t f = 0; f < value.field_names.size(); ++f)
          Mat_VarSetStructFieldByIndex(s, f, i, create(value.field_names[f], value.elements[i][f]));
      return s;
    }
    case Value::Kind::Cell: {
      size_t dims[2] = {1, value.elements.size()};
      matvar_t* c = Mat_VarCreate(name.c_str(), MAT_C_CELL, MAT_T_CELL, 2, dims, nullptr, 0);
      for (std::size_t i = 0; i < value.elements.size(); ++i)
        Mat_VarSetCell(c, static_cast<int>(i), create(name, value.elements[i][0]));
      return c;
    }
    case Value::Kind::Empty: {
      size_t dims[2] = {0, 0};
      return Mat_VarCreate(name.c_str(), MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims, nullptr, 0);
    }
  }
  return nullptr;
}

}  // namespace

bool Value::has_field(const std::string& name) const {
  for (const auto& f : field_names)
    if (f == name) return true;
  return false;
}

const Value& Value::field(const std::string& name, std::size_t index) const {
  if (kind != Kind::Struct) fail("expected a struct with field '{}'", name);
  for (std::size_t f = 0; f < field_names.size(); ++f) {
    if (field_names[f] == name) {
      if (index >= elements.size()) fail("struct has {} elements, asked for element {}", elements.size(), index + 1);
      return elements[index][f];
    }
  }
  fail("struct has no field '{}' (fields: {})", name, join(field_names, ", "));
}

double Value::scalar() const {
  if (kind != Kind::Numeric || matrix.total() != 1) fail("expected a numeric scalar");
  cv::Mat d;
  matrix.convertTo(d, CV_64F);
  return d.at<double>(0, 0);
}

Value Value::numeric(const cv::Mat& matrix, bool logical) {
  Value v;
  v.kind = Kind::Numeric;
  v.matrix = matrix.clone();
  v.logical = logical;
  v.dims = {static_cast<std::size_t>(matrix.rows), static_cast<std::size_t>(matrix.cols)};
  return v;
}

Value Value::string(const std::string& text) {
  Value v;
  v.kind = Kind::Char;
  v.text = text;
  v.dims = {1, text.size()};
  return v;
}

Value Value::structure(std::vector<std::string> names, std::vector<std::vector<Value>> elements) {
  Value v;
  v.kind = Kind::Struct;
  v.field_names = std::move(names);
  v.elements = std::move(elements);
  v.dims = {1, v.elements.size()};
  return v;
}

std::vector<std::string> variables(const fs::path& path) {
  MatPtr mat = open(path);
  std::vector<std::string> names;
  while (true) {
    VarPtr info(Mat_VarReadNextInfo(mat.get()));
    if (!info) break;
    if (info->name) names.emplace_back(info->name);
  }
  return names;
}

Value read(const fs::path& path, const std::string& name) {
  std::vector<std::string> names = variables(path);
  bool found = false;
  for (const auto& n : names) found |= n == name;
  if (!found)
    fail("{}: no variable '{}' (the file has: {})", path.string(), name, names.empty() ? "nothing" : join(names, ", "));
  MatPtr mat = open(path);
  VarPtr var(Mat_VarRead(mat.get(), name.c_str()));
  if (!var) fail("{}: cannot read variable '{}' (corrupt file?)", path.string(), name);
  return with_context(path.string() + ": " + name, [&] { return convert(var.get(), name); });
}

cv::Mat read_matrix(const fs::path& path, const std::string& name) {
  Value v = read(path, name);
  if (v.kind != Value::Kind::Numeric || v.matrix.empty())
    fail("{}: variable '{}' is not a non-empty numeric matrix", path.string(), name);
  cv::Mat out;
  v.matrix.convertTo(out, CV_32F);
  return out;
}

void write(const fs::path& path, const std::vector<std::pair<std::string, Value>>& vars, bool v73) {
  silence_matio();
  write_atomic(path, [&](const fs::path& tmp) {
    MatPtr mat(Mat_CreateVer(tmp.c_str(), nullptr, v73 ? MAT_FT_MAT73 : MAT_FT_MAT5));
    if (!mat) fail("{}: cannot create .mat file", path.string());
    for (const auto& [name, value] : vars) {
      VarPtr var(create(name, value));
      if (!var || Mat_VarWrite(mat.get(), var.get(), MAT_COMPRESSION_NONE) != 0)
        fail("{}: cannot write variable '{}'", path.string(), name);
    }
  });
}

}  // namespace densemtl::matfile
