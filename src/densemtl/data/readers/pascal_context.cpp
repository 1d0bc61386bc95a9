// PASCAL-Context in the PASCAL-MT layout of ASTMT and the survey's code:
//   ImageSets/Context/<split>.txt, JPEGImages/<id>.jpg,
//   semseg/VOC12/<id>.png or semseg/pascal-context/<id>.png (21 classes, 255 = ignore),
//   pascal-context/trainval/<id>.mat (variable LabelMap, the 459-class Context labels),
//   human_parts/<id>.mat (PASCAL-Part `anno` struct), normals_distill/<id>.png, sal_distill/<id>.png.
// Derived labels follow the reference: training edges are thin(|Laplacian(LabelMap)| > 0);
// normals are kept only on the Context classes that also exist in NYU; parts are grouped into six.
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"
#include "densemtl/vision/io/image.h"
#include "densemtl/vision/io/mat.h"
#include "densemtl/data/readers/readers.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/vision/boundaries.h"
#include "densemtl/vision/thinning.h"

namespace densemtl::data {

const std::vector<std::string>& voc_class_names() {
  static const std::vector<std::string> n = {
      "background", "aeroplane", "bicycle", "bird",  "boat",        "bottle", "bus",
      "car",        "cat",       "chair",   "cow",   "diningtable", "dog",    "horse",
      "motorbike",  "person",    "pottedplant", "sheep", "sofa",    "train",  "tvmonitor"};
  return n;
}

const std::vector<std::string>& pascal_part_names() {
  static const std::vector<std::string> n = {"background", "head", "torso", "uarm", "larm", "uleg", "lleg"};
  return n;
}

namespace {

constexpr int kPersonClass = 15;

// Context class ids whose distilled normals are kept (the classes that also appear in the NYU
// class list, plus tvmonitor); all other pixels get the zero normal (invalid).
const std::set<int>& normals_valid_classes() {
  static const std::set<int> ids = {
    3, 4, 6, 9, 10, 11, 13, 15, 17, 18, 22, 23, 29, 30, 33, 34, 36, 37, 38, 39,
    41, 43, 46, 49, 50, 51, 53, 55, 56, 59, 61, 62, 65, 66, 68, 69, 72, 73, 78, 83,
    84, 85, 87, 88, 95, 96, 101, 104, 105, 107, 111, 113, 115, 122, 124, 135, 141, 142, 143, 146,
    150, 154, 157, 158, 159, 165, 172, 174, 181, 183, 184, 191, 193, 195, 197, 199, 202, 213, 215, 216,
    219, 220, 223, 225, 228, 230, 232, 233, 238, 239, 242, 243, 246, 250, 251, 252, 255, 260, 261, 263,
    269, 272, 273, 275, 281, 283, 284, 285, 286, 287, 288, 290, 291, 292, 293, 295, 304, 307, 309, 310,
    314, 315, 319, 323, 329, 330, 331, 336, 342, 345, 349, 350, 351, 352, 355, 357, 368, 370, 371, 374,
    379, 380, 383, 384, 397, 401, 403, 405, 407, 408, 411, 412, 413, 414, 417, 419, 421, 423, 427, 429,
    430, 432, 440, 441, 442, 443, 444, 446, 454, 457,
  };
  return ids;
}

// PASCAL-Part part names of the person class -> the six groups.
const std::map<std::string, int>& part_groups() {
  static const std::map<std::string, int> m = {
      {"hair", 1},  {"head", 1},  {"lear", 1},  {"lebrow", 1}, {"leye", 1},  {"mouth", 1}, {"nose", 1},
      {"rear", 1},  {"rebrow", 1}, {"reye", 1}, {"neck", 2},   {"torso", 2}, {"luarm", 3}, {"ruarm", 3},
      {"lhand", 4}, {"llarm", 4}, {"rhand", 4}, {"rlarm", 4},  {"luleg", 5}, {"ruleg", 5}, {"lfoot", 6},
      {"llleg", 6}, {"rfoot", 6}, {"rlleg", 6}};
  return m;
}

cv::Mat read_label_map(const fs::path& path) { return matfile::read_matrix(path, "LabelMap"); }

class PascalContext : public Dataset {
 public:
  using Dataset::Dataset;

  std::vector<std::string> ids(const std::string& split) const override {
    fs::path list = info_.root / "ImageSets" / "Context" / (split + ".txt");
    if (!fs::exists(list))
      fail("{}: split list not found (splits here: {})", list.string(), join(info_.splits, ", "));
    return read_id_list(list);
  }

  Sample load(const std::string& id, const std::vector<std::string>& requested) const override {
    Sample s;
    s.id = id;
    image::read_rgb(info_.root / "JPEGImages" / (id + ".jpg")).convertTo(s.image, CV_32FC3);
    cv::Mat label_map;  // read once, shared by edge and normals
    auto context_labels = [&]() -> const cv::Mat& {
      if (label_map.empty()) label_map = read_label_map(context_file(id));
      return label_map;
    };
    for (const auto& task : resolve_tasks(requested)) {
      cv::Mat label;
      fs::path where;
      if (task == "semseg") {
        where = semseg_file(id);
        cv::Mat raw = image::read_gray(where);
        raw.convertTo(label, CV_32F);
        double lo, hi;
        cv::minMaxLoc(label, &lo, &hi, nullptr, nullptr, raw != 255);
        if (hi > 20) fail("{}: class value {} out of range (21 classes, 255 = ignore)", where.string(), hi);
      } else if (task == "human_parts") {
        where = info_.root / "human_parts" / (id + ".mat");
        label = fs::exists(where) ? read_parts(where) : cv::Mat::zeros(s.image.size(), CV_32F);
      } else if (task == "sal") {
        where = info_.root / "sal_distill" / (id + ".png");
        cv::Mat raw = image::read_unchanged(where);
        if (raw.channels() == 3) cv::cvtColor(raw, raw, cv::COLOR_BGR2GRAY);
        if (raw.channels() != 1) fail("{}: expected a grey saliency map", where.string());
        raw.convertTo(label, CV_32F, 1.0 / 255);
        cv::threshold(label, label, 0.5, 1.0, cv::THRESH_BINARY);
      } else if (task == "normals") {
        where = info_.root / "normals_distill" / (id + ".png");
        cv::Mat rgb = image::read_rgb(where);
        cv::Mat n;
        rgb.convertTo(n, CV_32FC3, 2.0 / 255, -1.0);
        const cv::Mat& ctx = context_labels();
        if (ctx.size() != n.size())
          fail("{}: size {}x{} differs from its LabelMap {}x{}", where.string(), n.rows, n.cols, ctx.rows, ctx.cols);
        const auto& valid = normals_valid_classes();
        for (int y = 0; y < n.rows; ++y)
          for (int x = 0; x < n.cols; ++x)
            if (!valid.count(static_cast<int>(ctx.at<float>(y, x)))) n.at<cv::Vec3f>(y, x) = cv::Vec3f(0, 0, 0);
        label = n;
      } else if (task == "edge") {
        where = context_file(id);
        cv::Mat e = vision::thin(vision::laplacian_edges(context_labels()));
        e.convertTo(label, CV_32F);
        // Scored like SEISM: seg2bmap of the label map (thinned by the metric).
        cv::Mat b;
        vision::seg2bmap(context_labels()).convertTo(b, CV_32F);
        with_context(where.string(), [&] { check_label(task, b, s.image.size()); });
        s.eval_labels[task] = b;
      } else {
        fail("PASCAL-Context has no '{}' labels", task);
      }
      with_context(where.string(), [&] { check_label(task, label, s.image.size()); });
      s.labels[task] = label;
    }
    return s;
  }

 private:
  fs::path context_file(const std::string& id) const { return info_.root / "pascal-context" / "trainval" / (id + ".mat"); }

  fs::path semseg_file(const std::string& id) const {
    fs::path voc = info_.root / "semseg" / "VOC12" / (id + ".png");
    return fs::exists(voc) ? voc : info_.root / "semseg" / "pascal-context" / (id + ".png");
  }

  // The six-part map of all person instances with parts (later parts overwrite earlier ones).
  static cv::Mat read_parts(const fs::path& path) {
    matfile::Value anno = matfile::read(path, "anno");
    return with_context(path.string(), [&] {
      const matfile::Value& objects = anno.field("objects");
      cv::Mat target;
      for (std::size_t i = 0; i < objects.count(); ++i) {
        int cls = static_cast<int>(objects.field("class_ind", i).scalar());
        const matfile::Value& parts = objects.field("parts", i);
        if (cls != kPersonClass || parts.kind != matfile::Value::Kind::Struct || parts.count() == 0) continue;
        const cv::Mat& inst = objects.field("mask", i).matrix;
        if (target.empty()) target = cv::Mat::zeros(inst.size(), CV_32F);
        for (std::size_t p = 0; p < parts.count(); ++p) {
          std::string name = parts.field("part_name", p).text;
          auto g = part_groups().find(name);
          if (g == part_groups().end()) fail("unknown person part name '{}'", name);
          cv::Mat mask = parts.field("mask", p).matrix;
          if (mask.size() != target.size()) fail("part mask size differs from the object mask");
          target.setTo(static_cast<float>(g->second), mask != 0);
        }
      }
      if (target.empty()) {
        // No person with parts: all background, at the size of any object mask (or 0x0, then
        // resized to the image by the caller).
        for (std::size_t i = 0; i < objects.count() && target.empty(); ++i)
          target = cv::Mat::zeros(objects.field("mask", i).matrix.size(), CV_32F);
      }
      return target;
    });
  }
};

}  // namespace

std::unique_ptr<Dataset> open_pascal_context(const fs::path& root) {
  require_dir(root, "dataset folder");
  DatasetInfo info;
  info.format = Format::PASCAL;
  info.root = root;
  info.name = "PASCAL-Context";
  info.class_names = voc_class_names();
  info.part_names = pascal_part_names();
  info.normals_y_down = true;
  info.edge_max_dist = 0.0075;
  info.default_size = cv::Size(512, 512);
  if (!fs::is_directory(root / "JPEGImages")) fail("{}: no JPEGImages/ folder (PASCAL-MT layout)", root.string());
  fs::path sets = root / "ImageSets" / "Context";
  require_dir(sets, "PASCAL-Context split folder ImageSets/Context/");
  for (const auto& e : fs::directory_iterator(sets))
    if (e.path().extension() == ".txt") info.splits.push_back(e.path().stem().string());
  std::sort(info.splits.begin(), info.splits.end());
  bool context = fs::is_directory(root / "pascal-context" / "trainval");
  if (fs::is_directory(root / "semseg")) info.tasks.push_back("semseg");
  if (fs::is_directory(root / "human_parts")) info.tasks.push_back("human_parts");
  if (fs::is_directory(root / "sal_distill")) info.tasks.push_back("sal");
  if (fs::is_directory(root / "normals_distill") && context) info.tasks.push_back("normals");
  if (context) info.tasks.push_back("edge");
  info.tasks = tasks::canonical(info.tasks);
  return std::make_unique<PascalContext>(std::move(info));
}

}  // namespace densemtl::data
