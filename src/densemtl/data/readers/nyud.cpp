// NYUD-v2 in the NYUD-MT layout of the survey's code (December 2020 release):
//   gt_sets/<split>.txt, images/<id>.jpg, segmentation/<id>.png (0 = ignore, k = class k-1),
//   depth/<id>.npy (metres, 0 = invalid), normals/<id>.npy (H x W x 3, 0 = invalid),
//   edge/<id>.npy ({0, 1}).
// The procedural scenes dataset uses the same layout plus sal/<id>.png ({0, 255}),
// human_parts/<id>.png (0..6) and a meta.json with its class names and normals frame.
// Partially labelled data: gt_sets/labelled/<task>.txt, where present, lists the ids that have a
// label for that task (ids of any split, and only those); the others have none, and their files
// are not read. Without such a list every id must have the task's file, unless meta.json sets
// allow_missing_labels (a missing file is then a missing label).
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "densemtl/core/error.h"
#include "densemtl/core/json.h"
#include "densemtl/core/strings.h"
#include "densemtl/vision/io/image.h"
#include "densemtl/vision/io/npy.h"
#include "densemtl/data/readers/readers.h"
#include "densemtl/tasks/registry.h"

namespace densemtl::data {

const std::vector<std::string>& nyu40_class_names() {
  static const std::vector<std::string> n = {
      "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
      "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror", "floor mat",
      "clothes", "ceiling", "books", "refridgerator", "television", "paper", "towel", "shower curtain", "box",
      "whiteboard", "person", "night stand", "toilet", "sink", "lamp", "bathtub", "bag", "otherstructure",
      "otherfurniture", "otherprop"};
  return n;
}

namespace {

// Folder and file extension of each task's labels.
struct LabelFile {
  const char* task;
  const char* folder;
  const char* ext;
};
const LabelFile kFiles[] = {
    {"semseg", "segmentation", ".png"}, {"human_parts", "human_parts", ".png"}, {"sal", "sal", ".png"},
    {"normals", "normals", ".npy"},     {"edge", "edge", ".npy"},               {"depth", "depth", ".npy"},
};

const LabelFile& label_file(const std::string& task) {
  for (const auto& f : kFiles)
    if (task == f.task) return f;
  fail("no NYUD label folder for task '{}'", task);
}

cv::Mat check_range(cv::Mat label, double max_value, const fs::path& path, const char* what) {
  double lo, hi;
  cv::minMaxLoc(label, &lo, &hi);
  if (lo < 0 || hi > max_value)
    fail("{}: {} value {} out of range [0, {}]", path.string(), what, lo < 0 ? lo : hi, max_value);
  return label;
}

class Nyud : public Dataset {
 public:
  Nyud(DatasetInfo info, bool allow_missing, std::map<std::string, std::set<std::string>> labelled_ids)
      : Dataset(std::move(info)), allow_missing_(allow_missing), labelled_ids_(std::move(labelled_ids)) {}

  bool labelled(const std::string& id, const std::string& task) const override {
    auto list = labelled_ids_.find(task);
    if (list != labelled_ids_.end()) return list->second.count(id) > 0;
    if (allow_missing_) {
      const LabelFile& lf = label_file(task);
      return fs::exists(info_.root / lf.folder / (id + lf.ext));
    }
    return true;
  }

  std::vector<std::string> ids(const std::string& split) const override {
    fs::path list = info_.root / "gt_sets" / (split + ".txt");
    if (!fs::exists(list))
      fail("{}: split list not found (splits here: {})", list.string(), join(info_.splits, ", "));
    return read_id_list(list);
  }

  Sample load(const std::string& id, const std::vector<std::string>& requested) const override {
    Sample s;
    s.id = id;
    fs::path img = info_.root / "images" / (id + ".jpg");
    if (!fs::exists(img) && fs::exists(info_.root / "images" / (id + ".png"))) img = info_.root / "images" / (id + ".png");
    image::read_rgb(img).convertTo(s.image, CV_32FC3);
    for (const auto& task : resolve_tasks(requested)) {
      const LabelFile& lf = label_file(task);
      fs::path path = info_.root / lf.folder / (id + lf.ext);
      auto list = labelled_ids_.find(task);
      if (list != labelled_ids_.end() ? !list->second.count(id) : allow_missing_ && !fs::exists(path)) continue;  // no label
      cv::Mat label = read_label(task, path);
      s.labels[task] = with_context(path.string(), [&] {
        if (label.channels() != tasks::get(task).label_channels()) fail("wrong channel count");
        check_label(task, label, s.image.size());
        return label;
      });
    }
    return s;
  }

 private:
  cv::Mat read_label(const std::string& task, const fs::path& path) const {
    if (task == "semseg") {
      cv::Mat raw = image::read_gray(path), out;
      if (raw.depth() != CV_8U) raw.convertTo(raw, CV_8U);
      check_range(raw, static_cast<double>(info_.class_names.size()), path, "class");
      raw.convertTo(out, CV_32F);
      out -= 1.0f;
      out.setTo(tasks::Task::kIgnore, raw == 0);
      return out;
    }
    if (task == "human_parts") {
      cv::Mat raw = image::read_gray(path), out;
      raw.convertTo(out, CV_32F);
      return check_range(out, static_cast<double>(info_.part_names.size() - 1), path, "part");
    }
    if (task == "sal") {
      cv::Mat raw = image::read_gray(path), out;
      raw.convertTo(out, CV_32F, raw.depth() == CV_16U ? 1.0 / 65535 : 1.0 / 255);
      cv::threshold(out, out, 0.5, 1.0, cv::THRESH_BINARY);
      return out;
    }
    if (task == "normals") return npy::read_float_mat(path, 3, "normals");
    if (task == "edge") {
      cv::Mat e = npy::read_mat(path, 1);
      with_context(path.string(), [&] { tasks::get(task).check_label(e); });  // before the threshold hides NaN
      cv::threshold(e, e, 0.5, 1.0, cv::THRESH_BINARY);
      return e;
    }
    if (task == "depth") {
      return npy::read_float_mat(path, 1, "depth");
    }
    fail("{}: no reader for task '{}'", path.string(), task);
  }

  bool allow_missing_;
  std::map<std::string, std::set<std::string>> labelled_ids_;
};

}  // namespace

std::unique_ptr<Dataset> open_nyud(const fs::path& root) {
  require_dir(root, "dataset folder");
  require_dir(root / "gt_sets", "NYUD split folder gt_sets/");
  DatasetInfo info;
  info.format = Format::NYUD;
  info.root = root;
  info.name = "NYUD-v2";
  info.class_names = nyu40_class_names();
  info.part_names = pascal_part_names();
  info.normals_y_down = true;
  info.edge_max_dist = 0.011;
  info.default_size = cv::Size(640, 480);
  bool allow_missing = false;
  if (fs::exists(root / "meta.json")) {
    Json meta = read_json(root / "meta.json");
    auto where = (root / "meta.json").string();
    if (!meta.is_object()) fail("{}: expected a JSON object of settings", where);
    // A key of the wrong type is named with what it should be (not the JSON library's words).
    auto get = [&](const char* key, const char* expected, auto& into) {
      try {
        into = meta.at(key).get<std::decay_t<decltype(into)>>();
      } catch (const Json::exception&) {
        std::string got = meta.at(key).dump();
        if (got.size() > 40) got = got.substr(0, 40) + "...";
        fail("{}: {}: expected {}, got {}", where, key, expected, got);
      }
    };
    if (meta.contains("name")) get("name", "a string", info.name);
    if (meta.contains("class_names")) get("class_names", "a list of strings", info.class_names);
    if (meta.contains("part_names")) get("part_names", "a list of strings", info.part_names);
    if (meta.contains("normals_frame")) {
      std::map<std::string, std::string> frame;
      get("normals_frame", "an object such as {\"y\": \"down\"}", frame);
      info.normals_y_down = !frame.count("y") || frame.at("y") == "down";
    }
    if (meta.contains("edge_max_dist")) get("edge_max_dist", "a number", info.edge_max_dist);
    if (meta.contains("size")) {
      std::vector<int> hw;
      get("size", "[H, W]", hw);
      if (hw.size() != 2 || hw[0] <= 0 || hw[1] <= 0) fail("{}: size: expected [H, W] with positive integers", where);
      info.default_size = cv::Size(hw[1], hw[0]);
    }
    if (meta.contains("allow_missing_labels")) get("allow_missing_labels", "true or false", allow_missing);
    if (info.class_names.empty()) fail("{}: class_names is empty", where);
  }
  for (const auto& lf : kFiles)
    if (fs::is_directory(root / lf.folder)) info.tasks.push_back(lf.task);
  info.tasks = tasks::canonical(info.tasks);
  if (!fs::is_directory(root / "images")) fail("{}: no images/ folder (NYUD-MT layout)", root.string());
  for (const auto& e : fs::directory_iterator(root / "gt_sets"))
    if (e.path().extension() == ".txt") info.splits.push_back(e.path().stem().string());
  std::sort(info.splits.begin(), info.splits.end());
  if (info.splits.empty()) fail("{}: no split lists (gt_sets/*.txt)", root.string());
  std::map<std::string, std::set<std::string>> labelled_ids;
  const fs::path lists = root / "gt_sets" / "labelled";
  if (fs::is_directory(lists)) {
    for (const auto& e : fs::directory_iterator(lists)) {
      if (e.path().extension() != ".txt") continue;
      const std::string task = e.path().stem().string();
      if (std::find(info.tasks.begin(), info.tasks.end(), task) == info.tasks.end())
        fail("{}: a list of labelled ids for '{}', but the dataset has no such task (tasks here: {})", e.path().string(), task,
             join(info.tasks, ", "));
      std::vector<std::string> ids = read_id_list(e.path(), /*allow_empty=*/true);
      labelled_ids[task] = std::set<std::string>(ids.begin(), ids.end());
    }
    // An id no split lists is a typo or a stale list: an error rather than a label never used.
    std::set<std::string> in_splits;
    bool readable = true;
    for (const auto& split : info.splits) {
      try {
        for (const auto& id : read_id_list(root / "gt_sets" / (split + ".txt"))) in_splits.insert(id);
      } catch (const Error&) {
        readable = false;  // a broken split list is reported where splits are read (ids(), info)
      }
    }
    if (readable)
      for (const auto& [task, ids] : labelled_ids)
        for (const auto& id : ids)
          if (!in_splits.count(id))
            fail("{}: id '{}' is in no split list ({})", (lists / (task + ".txt")).string(), id, join(info.splits, ", "));
  }
  return std::make_unique<Nyud>(std::move(info), allow_missing, std::move(labelled_ids));
}

}  // namespace densemtl::data
