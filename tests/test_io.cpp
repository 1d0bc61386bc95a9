// File formats: .npy, images, MATLAB .mat.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include <fstream>

#include "densemtl/vision/io/image.h"
#include "densemtl/vision/io/mat.h"
#include "densemtl/vision/io/npy.h"
#include "test_util.h"

namespace densemtl {

namespace {

// A .npy file exactly as numpy 1.x writes it (version 1.0, header padded to 64 bytes).
void write_raw_npy(const fs::path& path, const std::string& descr, const std::string& shape, const std::string& data,
                   bool fortran = false, int version = 1) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape + ", }";
  std::size_t prefix = version == 1 ? 10 : 12;
  header += std::string(63 - (prefix + header.size()) % 64, ' ') + "\n";
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(version) + '\0';
  if (version == 1) {
    out += static_cast<char>(header.size() & 0xff);
    out += static_cast<char>(header.size() >> 8);
  } else {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  }
  std::ofstream(path, std::ios::binary) << out << header << data;
}

template <typename T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

}  // namespace

TEST(Npy, RoundTripFloatAndUint8) {
  test::TempDir dir;
  cv::Mat f(3, 4, CV_32FC3);
  cv::randu(f, -5, 5);
  npy::write_mat(dir.path() / "f.npy", f);
  cv::Mat back = npy::read_mat(dir.path() / "f.npy", 3);
  EXPECT_EQ(cv::norm(f, back, cv::NORM_INF), 0.0);
  // The header is what numpy expects: 64-byte aligned, version 1.0.
  std::string raw = read_file(dir.path() / "f.npy");
  EXPECT_EQ(raw.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  std::size_t hlen = static_cast<unsigned char>(raw[8]) | (static_cast<unsigned char>(raw[9]) << 8);
  EXPECT_EQ((10 + hlen) % 64, 0u);
  EXPECT_NE(raw.find("'shape': (3, 4, 3)"), std::string::npos);
}

TEST(Npy, ReadsOtherDtypesAndVersions) {
  test::TempDir dir;
  write_raw_npy(dir.path() / "d.npy", "<f8", "(2, 2)", bytes_of(std::vector<double>{1.5, -2, 3, 4}));
  write_raw_npy(dir.path() / "i.npy", "<i8", "(1, 3)", bytes_of(std::vector<std::int64_t>{-1, 0, 7}), false, 2);
  write_raw_npy(dir.path() / "b.npy", "|b1", "(1, 2, 1)", std::string("\x01\x00", 2));
  cv::Mat d = npy::read_mat(dir.path() / "d.npy", 1);
  EXPECT_FLOAT_EQ(d.at<float>(0, 0), 1.5f);
  EXPECT_FLOAT_EQ(d.at<float>(0, 1), -2.0f);
  cv::Mat i = npy::read_mat(dir.path() / "i.npy", 1);
  EXPECT_FLOAT_EQ(i.at<float>(0, 0), -1.0f);
  EXPECT_FLOAT_EQ(i.at<float>(0, 2), 7.0f);
  cv::Mat b = npy::read_mat(dir.path() / "b.npy", 1);
  EXPECT_FLOAT_EQ(b.at<float>(0, 0), 1.0f);
}

TEST(Npy, BadFilesGiveOneLineErrorsNamingTheFile) {
  test::TempDir dir;
  auto p = [&](const char* n) { return dir.path() / n; };
  write_raw_npy(p("shape.npy"), "<f4", "(2, 2, 2)", std::string(32, '\0'));
  test::expect_error([&] { npy::read_mat(p("shape.npy"), 1); }, {"shape.npy", "expected an array of shape (H, W)", "(2, 2, 2)"});
  test::expect_error([&] { npy::read_mat(p("shape.npy"), 3); }, {"shape.npy", "(H, W, 3)"});
  write_raw_npy(p("complex.npy"), "<c8", "(1, 1)", std::string(8, '\0'));
  test::expect_error([&] { npy::read_mat(p("complex.npy"), 1); }, {"complex.npy", "unsupported dtype '<c8'"});
  write_raw_npy(p("short.npy"), "<f4", "(4, 4)", std::string(10, '\0'));
  test::expect_error([&] { npy::read_mat(p("short.npy"), 1); }, {"short.npy", "truncated"});
  write_raw_npy(p("fortran.npy"), "<f4", "(1, 1)", std::string(4, '\0'), true);
  test::expect_error([&] { npy::read_mat(p("fortran.npy"), 1); }, {"fortran.npy", "Fortran"});
  std::ofstream(p("text.npy")) << "hello";
  test::expect_error([&] { npy::read_mat(p("text.npy"), 1); }, {"text.npy", "not a .npy file"});
  test::expect_error([&] { npy::read_mat(p("missing.npy"), 1); }, {"missing.npy", "not found"});
}

TEST(Npy, HeadersFoundByFuzzingAreOneLineErrors) {
  // Inputs the fuzz target (fuzz/fuzz_npy.cpp) reduced to: each used to escape as an exception of
  // the standard library or to overflow the data size.
  test::TempDir dir;
  auto p = [&](const char* n) { return dir.path() / n; };
  write_raw_npy(p("noshape.npy"), "<f2", "", std::string(16, '\0'));  // 'shape': with no value
  test::expect_error([&] { npy::read_mat(p("noshape.npy"), 1); }, {"noshape.npy", "bad shape"});
  write_raw_npy(p("negative.npy"), "<f4", "(-2, 3)", std::string(24, '\0'));
  test::expect_error([&] { npy::read_mat(p("negative.npy"), 1); }, {"negative.npy", "bad shape"});
  write_raw_npy(p("huge.npy"), "<f8", "(4611686018427387904, 4)", std::string(32, '\0'));  // 2^62 x 4 x 8 bytes wraps
  test::expect_error([&] { npy::read_mat(p("huge.npy"), 1); }, {"huge.npy", "truncated"});
  write_raw_npy(p("size.npy"), "<f4000000000000", "(1, 1)", std::string(4, '\0'));
  test::expect_error([&] { npy::read_mat(p("size.npy"), 1); }, {"size.npy", "unsupported dtype"});
  write_raw_npy(p("text.npy"), "<f4", "(2x, 1)", std::string(8, '\0'));
  test::expect_error([&] { npy::read_mat(p("text.npy"), 1); }, {"text.npy", "bad shape"});
}

TEST(Image, ReadsJpegAndPngAndRejectsCorruptFiles) {
  test::TempDir dir;
  cv::Mat rgb(8, 10, CV_8UC3, cv::Scalar(10, 200, 30));
  image::write_rgb(dir.path() / "a.png", rgb);
  image::write_rgb(dir.path() / "a.jpg", rgb);
  cv::Mat png = image::read_rgb(dir.path() / "a.png");
  EXPECT_EQ(png.at<cv::Vec3b>(2, 3), cv::Vec3b(10, 200, 30));  // RGB order survives
  cv::Mat jpg = image::read_rgb(dir.path() / "a.jpg");
  EXPECT_NEAR(jpg.at<cv::Vec3b>(2, 3)[1], 200, 6);

  std::string bytes = read_file(dir.path() / "a.jpg");
  std::ofstream(dir.path() / "trunc.jpg", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  test::expect_error([&] { image::read_rgb(dir.path() / "trunc.jpg"); }, {"trunc.jpg", "corrupt JPEG"});
  std::string pbytes = read_file(dir.path() / "a.png");
  std::ofstream(dir.path() / "trunc.png", std::ios::binary) << pbytes.substr(0, pbytes.size() - 20);
  test::expect_error([&] { image::read_rgb(dir.path() / "trunc.png"); }, {"trunc.png", "corrupt PNG"});
  std::ofstream(dir.path() / "junk.png", std::ios::binary) << "this is not an image at all";
  test::expect_error([&] { image::read_rgb(dir.path() / "junk.png"); }, {"junk.png", "corrupt or unsupported"});
  std::ofstream(dir.path() / "empty.jpg", std::ios::binary);
  test::expect_error([&] { image::read_rgb(dir.path() / "empty.jpg"); }, {"empty.jpg", "empty file"});
  test::expect_error([&] { image::read_rgb(dir.path() / "none.jpg"); }, {"none.jpg", "not found"});
}

TEST(Image, GrayReaderAcceptsSingleChannelAnd16Bit) {
  test::TempDir dir;
  cv::Mat g(4, 4, CV_16U, cv::Scalar(1234));
  image::write(dir.path() / "g.png", g);
  cv::Mat back = image::read_gray(dir.path() / "g.png");
  EXPECT_EQ(back.depth(), CV_16U);
  EXPECT_EQ(back.at<std::uint16_t>(1, 1), 1234);
  cv::Mat colour(4, 4, CV_8UC3, cv::Scalar(1, 2, 3));
  image::write(dir.path() / "c.png", colour);
  test::expect_error([&] { image::read_gray(dir.path() / "c.png"); }, {"c.png", "single-channel"});
}

TEST(Mat, CorruptFilesFoundByFuzzingAreOneLineErrors) {
  // A fuzzed .mat whose character array declares more elements than its data holds (matio does not
  // check): densemtl read past the buffer (AddressSanitizer in fuzz/fuzz_mat.cpp).
  const fs::path file = fs::path(DENSEMTL_TEST_DATA) / "fuzz" / "mat_char_beyond_data.mat";
  test::expect_error([&] { matfile::read(file, "anno"); }, {"mat_char_beyond_data.mat", "corrupt variable"});
}

TEST(Mat, StructRoundTripAndErrors) {
  test::TempDir dir;
  using matfile::Value;
  cv::Mat mask = cv::Mat::zeros(3, 4, CV_8U);
  mask.at<std::uint8_t>(1, 2) = 1;
  Value part = Value::structure({"part_name", "mask"}, {{Value::string("head"), Value::numeric(mask, true)}});
  Value objects = Value::structure({"class", "class_ind", "mask", "parts"},
                                   {{Value::string("person"), Value::numeric(cv::Mat(1, 1, CV_64F, cv::Scalar(15))),
                                     Value::numeric(mask, true), part}});
  Value anno = Value::structure({"imname", "objects"}, {{Value::string("2008_000001.jpg"), objects}});
  matfile::write(dir.path() / "a.mat", {{"anno", anno}});
  Value back = matfile::read(dir.path() / "a.mat", "anno");
  EXPECT_EQ(back.field("imname").text, "2008_000001.jpg");
  const Value& obj = back.field("objects");
  EXPECT_EQ(obj.count(), 1u);
  EXPECT_EQ(obj.field("class_ind").scalar(), 15.0);
  const Value& m = obj.field("parts").field("mask");
  EXPECT_EQ(m.matrix.rows, 3);
  EXPECT_EQ(m.matrix.cols, 4);
  EXPECT_EQ(m.matrix.at<std::uint8_t>(1, 2), 1);  // MATLAB's column-major order is undone
  EXPECT_EQ(obj.field("parts").field("part_name").text, "head");

  test::expect_error([&] { matfile::read(dir.path() / "a.mat", "LabelMap"); }, {"a.mat", "no variable 'LabelMap'", "anno"});
  std::ofstream(dir.path() / "bad.mat") << "not a mat file";
  test::expect_error([&] { matfile::read(dir.path() / "bad.mat", "anno"); }, {"bad.mat", "not a readable MATLAB"});
  test::expect_error([&] { back.field("nosuch"); }, {"no field 'nosuch'", "imname"});
}

TEST(Mat, NumericMatrixInAnyClass) {
  test::TempDir dir;
  cv::Mat labels(2, 3, CV_16U);
  for (int i = 0; i < 6; ++i) labels.at<std::uint16_t>(i / 3, i % 3) = static_cast<std::uint16_t>(400 + i);
  matfile::write(dir.path() / "l.mat", {{"LabelMap", matfile::Value::numeric(labels)}});
  cv::Mat back = matfile::read_matrix(dir.path() / "l.mat", "LabelMap");
  EXPECT_EQ(back.type(), CV_32F);
  EXPECT_EQ(back.at<float>(1, 2), 405.0f);
  EXPECT_EQ(back.at<float>(0, 1), 401.0f);
}

}  // namespace densemtl
