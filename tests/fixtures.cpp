#include "fixtures.h"

#include <fstream>

#include "densemtl/vision/io/image.h"
#include "densemtl/vision/io/mat.h"
#include "densemtl/vision/io/npy.h"

namespace densemtl::test {

namespace {

cv::Mat gradient_image(int h, int w, int seed) {
  cv::Mat img(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      img.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<std::uint8_t>((x * 16 + seed * 40) % 256),
                                          static_cast<std::uint8_t>((y * 20) % 256), static_cast<std::uint8_t>(128));
  return img;
}

void write_list(const fs::path& path, const std::vector<std::string>& ids) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path);
  for (const auto& id : ids) out << id << "\n";
}

}  // namespace

void write_nyud_fixture(const fs::path& root, int n_train, int n_val, int h, int w) {
  std::vector<std::string> train, val;
  for (int i = 0; i < n_train + n_val; ++i) {
    std::string id = std::to_string(1000 + i);
    (i < n_train ? train : val).push_back(id);
    image::write_rgb(root / "images" / (id + ".jpg"), gradient_image(h, w, i));
    cv::Mat seg(h, w, CV_8U);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) seg.at<std::uint8_t>(y, x) = static_cast<std::uint8_t>((i + x) % 41);
    image::write(root / "segmentation" / (id + ".png"), seg);
    cv::Mat depth(h, w, CV_32F);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) depth.at<float>(y, x) = 1.0f + x / 10.0f;
    depth.at<float>(0, 0) = 0.0f;
    npy::write_mat(root / "depth" / (id + ".npy"), depth);
    cv::Mat normals(h, w, CV_32FC3, cv::Scalar(0, 0, 1));
    normals.at<cv::Vec3f>(0, 0) = cv::Vec3f(0, 0, 0);
    npy::write_mat(root / "normals" / (id + ".npy"), normals);
    cv::Mat edge = cv::Mat::zeros(h, w, CV_32F);
    edge.col(w / 2).setTo(1.0f);
    npy::write_mat(root / "edge" / (id + ".npy"), edge);
  }
  write_list(root / "gt_sets" / "train.txt", train);
  write_list(root / "gt_sets" / "val.txt", val);
}

void write_pascal_fixture(const fs::path& root, int h, int w) {
  using matfile::Value;
  const std::vector<std::string> ids = {"2008_000001", "2008_000002"};
  write_list(root / "ImageSets" / "Context" / "train.txt", {ids[0]});
  write_list(root / "ImageSets" / "Context" / "val.txt", {ids[1]});
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::string& id = ids[i];
    image::write_rgb(root / "JPEGImages" / (id + ".jpg"), gradient_image(h, w, static_cast<int>(i)));
    // Context labels: left half 284 (person, normals kept), right half 2 (not in the valid set),
    // a 3x3 block of 440 (wall, valid) in the top-left corner.
    cv::Mat ctx(h, w, CV_16U, cv::Scalar(2));
    ctx(cv::Rect(0, 0, w / 2, h)).setTo(284);
    ctx(cv::Rect(0, 0, 3, 3)).setTo(440);
    matfile::write(root / "pascal-context" / "trainval" / (id + ".mat"), {{"LabelMap", Value::numeric(ctx)}});
    cv::Mat semseg(h, w, CV_8U, cv::Scalar(0));
    semseg(cv::Rect(0, 0, w / 2, h)).setTo(15);
    semseg.at<std::uint8_t>(h - 1, w - 1) = 255;
    image::write(root / "semseg" / "VOC12" / (id + ".png"), semseg);
    cv::Mat sal(h, w, CV_8U, cv::Scalar(40));
    sal(cv::Rect(0, 0, w / 2, h)).setTo(200);
    image::write(root / "sal_distill" / (id + ".png"), sal);
    // Distilled normals: all pointing at the camera, (0, 0, 1) -> RGB (127.5, 127.5, 255).
    cv::Mat nrm(h, w, CV_8UC3, cv::Scalar(128, 128, 255));
    image::write_rgb(root / "normals_distill" / (id + ".png"), nrm);
  }
  // Parts for the first image: a person with head (rows 0-2), torso (3-5), lower leg (6-9) in the
  // left half; a second, part-less person; a cat object. The 'neck' overlaps the head's last row
  // and is written later, so it wins (torso group).
  auto mask = [&](int y0, int y1) {
    cv::Mat m = cv::Mat::zeros(h, w, CV_8U);
    m(cv::Rect(0, y0, w / 2, y1 - y0)).setTo(1);
    return Value::numeric(m, true);
  };
  Value parts = Value::structure({"part_name", "mask"}, {{Value::string("head"), mask(0, 3)},
                                                         {Value::string("neck"), mask(2, 3)},
                                                         {Value::string("torso"), mask(3, 6)},
                                                         {Value::string("lfoot"), mask(6, h)}});
  Value no_parts = Value::structure({"part_name", "mask"}, {});
  auto scalar = [](double v) { return Value::numeric(cv::Mat(1, 1, CV_64F, cv::Scalar(v))); };
  Value objects = Value::structure(
      {"class", "class_ind", "mask", "parts"},
      {{Value::string("person"), scalar(15), mask(0, h), parts},
       {Value::string("person"), scalar(15), mask(0, 2), no_parts},
       {Value::string("cat"), scalar(8), mask(0, 1), no_parts}});
  Value anno = Value::structure({"imname", "objects"}, {{Value::string(ids[0] + ".jpg"), objects}});
  matfile::write(root / "human_parts" / (ids[0] + ".mat"), {{"anno", anno}});
}

void write_mtan_fixture(const fs::path& root, int n, int h, int w) {
  for (const char* split : {"train", "val"}) {
    for (int i = 0; i < n; ++i) {
      fs::path base = root / split;
      std::string f = std::to_string(i) + ".npy";
      cv::Mat img(h, w, CV_32FC3, cv::Scalar(0.5, 0.25, 1.0));
      npy::write_mat(base / "image" / f, img);
      cv::Mat label(h, w, CV_32F, cv::Scalar(3));
      label.row(0).setTo(-1.0f);
      npy::write_mat(base / "label" / f, label);
      cv::Mat depth(h, w, CV_32F, cv::Scalar(2.5));
      npy::Array a;  // depth as H x W x 1, as mtan stores it
      a.descr = "<f4";
      a.shape = {h, w, 1};
      a.data.assign(reinterpret_cast<const char*>(depth.data), depth.total() * 4);
      npy::write(base / "depth" / f, a);
      npy::write_mat(base / "normal" / f, cv::Mat(h, w, CV_32FC3, cv::Scalar(0, 1, 0)));
    }
  }
}

}  // namespace densemtl::test
