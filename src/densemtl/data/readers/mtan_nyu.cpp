// NYUv2 as preprocessed by mtan (and used by LibMTL, CAGrad, Nash-MTL, ...):
//   <split>/image/<i>.npy   H x W x 3 float (values in [0, 1])
//   <split>/label/<i>.npy   H x W float, 13 classes, -1 = ignore
//   <split>/depth/<i>.npy   H x W x 1 float, metres, 0 = invalid
//   <split>/normal/<i>.npy  H x W x 3 float, zero = invalid
// Splits are the folders (train, val; "val" is the 654-image test set of the mtan protocol).
#include <algorithm>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"
#include "densemtl/vision/io/npy.h"
#include "densemtl/data/readers/readers.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::data {

const std::vector<std::string>& mtan13_class_names() {
  static const std::vector<std::string> n = {"bed",   "books", "ceiling", "chair", "floor", "furniture", "objects",
                                             "picture", "sofa", "table", "tv",    "wall",  "window"};
  return n;
}

namespace {

class MtanNyu : public Dataset {
 public:
  using Dataset::Dataset;

  std::vector<std::string> ids(const std::string& split) const override {
    fs::path dir = info_.root / split / "image";
    if (!fs::is_directory(dir))
      fail("{}: split folder not found (splits here: {})", dir.string(), join(info_.splits, ", "));
    std::vector<std::pair<long, std::string>> found;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() != ".npy") continue;
      std::string stem = e.path().stem().string();
      long key = std::all_of(stem.begin(), stem.end(), ::isdigit) && !stem.empty() && stem.size() < 12 ? std::stol(stem) : -1;
      found.emplace_back(key, stem);
    }
    if (found.empty()) fail("{}: no .npy images", dir.string());
    std::sort(found.begin(), found.end());
    std::vector<std::string> ids;
    for (auto& f : found) ids.push_back(split + "/" + f.second);
    return ids;
  }

  // Ids are "<split>/<index>".
  Sample load(const std::string& id, const std::vector<std::string>& requested) const override {
    auto parts = split(id, '/');
    if (parts.size() != 2) fail("mtan sample id '{}' is not <split>/<index>", id);
    fs::path base = info_.root / parts[0];
    const std::string file = parts[1] + ".npy";
    Sample s;
    s.id = id;
    fs::path img_path = base / "image" / file;
    cv::Mat img = npy::read_mat(img_path, 3);
    double lo, hi;
    cv::minMaxLoc(img.reshape(1), &lo, &hi);
    // mtan stores images in [0, 1]; accept 0..255 too.
    s.image = hi <= 1.0 + 1e-6 ? img * 255.0 : img;
    for (const auto& task : resolve_tasks(requested)) {
      fs::path path;
      cv::Mat label;
      if (task == "semseg") {
        path = base / "label" / file;
        label = npy::read_mat(path, 1);
        cv::minMaxLoc(label, &lo, &hi);
        if (lo < -1 || hi > 12) fail("{}: class value {} out of range (13 classes, -1 = ignore)", path.string(), lo < -1 ? lo : hi);
        label.setTo(tasks::Task::kIgnore, label < 0);
      } else if (task == "depth") {
        path = base / "depth" / file;
        label = npy::read_float_mat(path, 1, "depth");
      } else if (task == "normals") {
        path = base / "normal" / file;
        label = npy::read_float_mat(path, 3, "normals");
      } else {
        fail("the mtan NYUv2 layout has no '{}' labels", task);
      }
      with_context(path.string(), [&] { check_label(task, label, s.image.size()); });
      s.labels[task] = label;
    }
    return s;
  }
};

}  // namespace

std::unique_ptr<Dataset> open_mtan_nyu(const fs::path& root) {
  require_dir(root, "dataset folder");
  DatasetInfo info;
  info.format = Format::MTAN;
  info.root = root;
  info.name = "NYUv2 (mtan)";
  info.class_names = mtan13_class_names();
  info.part_names = pascal_part_names();
  info.normals_y_down = true;
  info.edge_max_dist = 0.011;
  info.default_size = cv::Size(384, 288);
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory() && fs::is_directory(e.path() / "image")) info.splits.push_back(e.path().filename().string());
  std::sort(info.splits.begin(), info.splits.end());
  if (info.splits.empty()) fail("{}: no <split>/image/ folders (mtan NYUv2 layout)", root.string());
  const fs::path first = root / info.splits.front();
  if (fs::is_directory(first / "label")) info.tasks.push_back("semseg");
  if (fs::is_directory(first / "normal")) info.tasks.push_back("normals");
  if (fs::is_directory(first / "depth")) info.tasks.push_back("depth");
  info.tasks = tasks::canonical(info.tasks);
  return std::make_unique<MtanNyu>(std::move(info));
}

}  // namespace densemtl::data
