// The procedural scenes dataset: the properties it must have (determinism, the NYUD layout, unit
// normals facing the camera, depth and normals that agree, edges on instance boundaries, saliency
// and parts that follow the classes, every class common enough).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "densemtl/core/json.h"
#include "densemtl/data/dataset.h"
#include "densemtl/data/synthetic/generator.h"
#include "densemtl/vision/boundaries.h"
#include "test_util.h"

namespace densemtl::synthetic {

namespace {

GenerateOptions small_options(const fs::path& out, std::uint64_t seed = 3) {
  GenerateOptions o;
  o.out = out;
  o.height = 48;
  o.width = 64;
  o.train = 6;
  o.val = 2;
  o.test = 2;
  o.seed = seed;
  o.threads = 2;
  return o;
}

GenerateOptions render_options(int h = 72, int w = 96) {
  GenerateOptions o;
  o.height = h;
  o.width = w;
  o.seed = 5;
  return o;
}

std::map<std::string, std::string> read_tree(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) files[fs::relative(e.path(), root).string()] = read_file(e.path());
  return files;
}

// Camera-frame ray direction of pixel (u, v), as meta.json documents it.
cv::Vec3d pixel_ray(const Camera& c, int u, int v) { return cv::Vec3d((u - c.cx) / c.fx, -(v - c.cy) / c.fy, -1.0); }

}  // namespace

TEST(Synthetic, SameSeedGivesByteIdenticalTreesOtherSeedDiffers) {
  test::TempDir dir;
  GenerateOptions a = small_options(dir.path() / "a"), b = small_options(dir.path() / "b");
  b.threads = 1;  // the thread count must not matter
  generate(a);
  generate(b);
  auto ta = read_tree(dir.path() / "a"), tb = read_tree(dir.path() / "b");
  EXPECT_EQ(ta.size(), tb.size());
  EXPECT_GE(ta.size(), 10u * 8u);
  for (const auto& [name, bytes] : ta) EXPECT_TRUE(tb.count(name) && tb[name] == bytes) << name << " differs";
  GenerateOptions c = small_options(dir.path() / "c", 4);
  generate(c);
  auto tc = read_tree(dir.path() / "c");
  EXPECT_NE(tc["images/train_00000.jpg"], ta["images/train_00000.jpg"]);
  EXPECT_NE(tc["depth/train_00000.npy"], ta["depth/train_00000.npy"]);
}

TEST(Synthetic, WritesTheNyudLayoutAndReadsBack) {
  test::TempDir dir;
  GenerateOptions o = small_options(dir.path() / "scenes");
  GenerateSummary s = generate(o);
  EXPECT_EQ(s.images(), 10);
  EXPECT_GT(s.images_per_second(), 0.0);
  EXPECT_FALSE(fs::exists(dir.path() / "scenes.partial"));
  Json meta = read_json(dir.path() / "scenes" / "meta.json");
  EXPECT_EQ(meta["class_names"].size(), 9u);
  EXPECT_EQ(meta["normals_frame"]["y"], "up");
  EXPECT_TRUE(meta["intrinsics"].contains("fx"));
  auto ds = data::open_dataset(dir.path() / "scenes");
  EXPECT_EQ(ds->info().format, data::Format::NYUD);
  EXPECT_EQ(ds->info().tasks, (std::vector<std::string>{"semseg", "human_parts", "sal", "normals", "edge", "depth"}));
  EXPECT_EQ(ds->info().splits, (std::vector<std::string>{"test", "train", "val"}));
  EXPECT_EQ(ds->info().class_names.size(), 9u);
  EXPECT_FALSE(ds->info().normals_y_down);
  auto ids = ds->ids("train");
  ASSERT_EQ(ids.size(), 6u);
  data::Sample sample = ds->load(ids[1]);
  Rendering r = render_sample(o, 0, 1);
  cv::Mat seg;
  r.semseg.convertTo(seg, CV_32F);
  EXPECT_EQ(cv::norm(seg, sample.labels.at("semseg"), cv::NORM_INF), 0.0);  // disk k+1 -> class k
  EXPECT_EQ(cv::norm(r.depth, sample.labels.at("depth"), cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(r.normals, sample.labels.at("normals"), cv::NORM_INF), 0.0);
  EXPECT_EQ(sample.image.size(), cv::Size(64, 48));
}

TEST(Synthetic, DropsLabelsAtTheGivenRatePerTaskFromTheSeed) {
  test::TempDir dir;
  GenerateOptions o = small_options(dir.path() / "scenes");
  o.train = 40;
  o.drop_labels = {{"depth", 0.5}, {"semseg", 1.0}, {"edge", 0.0}};
  generate(o);
  auto ds = data::open_dataset(dir.path() / "scenes");
  std::vector<std::string> all;
  for (const char* split : {"train", "val", "test"})
    for (const auto& id : ds->ids(split)) all.push_back(id);
  int depth = 0;
  for (std::size_t k = 0; k < all.size(); ++k) {
    const std::string& id = all[k];
    data::Sample s = ds->load(id);
    const int split = id.rfind("train", 0) == 0 ? 0 : id.rfind("val", 0) == 0 ? 1 : 2;
    const int index = std::stoi(id.substr(id.find('_') + 1));
    EXPECT_EQ(s.has("depth"), !label_dropped(o, "depth", split, index)) << id;
    EXPECT_EQ(s.has("depth"), ds->labelled(id, "depth")) << id;
    EXPECT_EQ(s.has("depth"), fs::exists(dir.path() / "scenes" / "depth" / (id + ".npy"))) << id;
    EXPECT_FALSE(s.has("semseg")) << id;
    EXPECT_TRUE(s.has("edge") && s.has("normals") && s.has("sal") && s.has("human_parts")) << id;
    depth += s.has("depth") ? 1 : 0;
  }
  // About half of the 44 images keep their depth (binomial: 22 ± 3.3).
  EXPECT_GT(depth, 10);
  EXPECT_LT(depth, 34);
  EXPECT_TRUE(fs::exists(dir.path() / "scenes" / "gt_sets" / "labelled" / "semseg.txt"));
  EXPECT_FALSE(fs::exists(dir.path() / "scenes" / "gt_sets" / "labelled" / "edge.txt"));
  // The draws depend on the seed only; unknown tasks and shares outside [0, 1] are errors.
  GenerateOptions again = o;
  again.threads = 1;
  for (int i = 0; i < 40; ++i) EXPECT_EQ(label_dropped(o, "depth", 0, i), label_dropped(again, "depth", 0, i));
  o.out = dir.path() / "bad";
  o.drop_labels = {{"height", 0.5}};
  test::expect_error([&] { generate(o); }, {"--drop-labels", "unknown task 'height'"});
  o.drop_labels = {{"depth", 1.5}};
  test::expect_error([&] { generate(o); }, {"--drop-labels", "depth=1.5"});
}

TEST(Synthetic, NormalsAreUnitZeroWhereInvalidAndFaceTheCamera) {
  GenerateOptions o = render_options();
  Camera cam = make_intrinsics({o.width, o.height});
  for (int i = 0; i < 6; ++i) {
    Rendering r = render_sample(o, 0, i);
    int invalid = 0;
    for (int v = 0; v < r.depth.rows; ++v)
      for (int u = 0; u < r.depth.cols; ++u) {
        cv::Vec3f n = r.normals.at<cv::Vec3f>(v, u);
        if (r.depth.at<float>(v, u) == 0.0f) {
          EXPECT_EQ(n, cv::Vec3f(0, 0, 0));
          ++invalid;
          continue;
        }
        ASSERT_NEAR(std::sqrt(n.dot(n)), 1.0, 1e-3) << "pixel " << u << "," << v;
        cv::Vec3d ray = pixel_ray(cam, u, v);
        ASSERT_GT(-(n[0] * ray[0] + n[1] * ray[1] + n[2] * ray[2]), 0.0) << "normal faces away at " << u << "," << v;
      }
    EXPECT_GT(invalid, 0);  // depth holes exist by default
    EXPECT_LT(invalid, r.depth.total() / 10);
  }
}

TEST(Synthetic, DepthAndNormalsAgreeOnPlanarSurfaces) {
  GenerateOptions o = render_options(96, 128);
  Camera cam = make_intrinsics({o.width, o.height});
  auto point = [&](const cv::Mat& depth, int u, int v) {
    double z = depth.at<float>(v, u);
    cv::Vec3d r = pixel_ray(cam, u, v);
    return cv::Vec3d(r[0] * z, r[1] * z, -z);
  };
  int checked = 0;
  double worst = 0;
  for (int i = 0; i < 5; ++i) {
    Rendering r = render_sample(o, 0, i);
    for (int v = 1; v + 1 < r.depth.rows; ++v)
      for (int u = 1; u + 1 < r.depth.cols; ++u) {
        // Inside a planar patch: the 3x3 neighbourhood is one instance with one stored normal.
        cv::Vec3f n0 = r.normals.at<cv::Vec3f>(v, u);
        bool planar = r.depth.at<float>(v, u) > 0;
        for (int dv = -1; dv <= 1 && planar; ++dv)
          for (int du = -1; du <= 1 && planar; ++du) {
            cv::Vec3f n = r.normals.at<cv::Vec3f>(v + dv, u + du);
            planar = r.instances.at<std::uint16_t>(v + dv, u + du) == r.instances.at<std::uint16_t>(v, u) &&
                     r.depth.at<float>(v + dv, u + du) > 0 && n.dot(n0) > std::cos(0.2 * M_PI / 180);
          }
        if (!planar) continue;
        cv::Vec3d a = point(r.depth, u + 1, v) - point(r.depth, u - 1, v);
        cv::Vec3d b = point(r.depth, u, v - 1) - point(r.depth, u, v + 1);
        cv::Vec3d n = a.cross(b);
        n /= cv::norm(n);
        double cosang = std::abs(n.dot(cv::Vec3d(n0[0], n0[1], n0[2])));
        double deg = std::acos(std::min(1.0, cosang)) * 180 / M_PI;
        worst = std::max(worst, deg);
        ++checked;
      }
  }
  EXPECT_GT(checked, 5000);
  EXPECT_LT(worst, 3.0) << "back-projected depth disagrees with the stored normals";
}

TEST(Synthetic, EdgesAreExactlyTheInstanceBoundaries) {
  GenerateOptions o = render_options();
  int edge_pixels = 0, across = 0, down = 0;  // over the four images: edge pixels, horizontal and vertical instance changes checked
  for (int i = 0; i < 4; ++i) {
    Rendering r = render_sample(o, 1, i);
    cv::Mat e = vision::seg2bmap(r.instances);
    const cv::Mat& inst = r.instances;
    auto id = [&](int y, int x) { return inst.at<std::uint16_t>(y, x); };
    for (int y = 0; y < inst.rows; ++y)
      for (int x = 0; x < inst.cols; ++x) {
        // Every edge pixel is next to an instance change.
        if (e.at<std::uint8_t>(y, x)) {
          bool change = false;
          for (int dy = -1; dy <= 1; ++dy)
            for (int dx = -1; dx <= 1; ++dx) {
              int yy = y + dy, xx = x + dx;
              if (yy >= 0 && xx >= 0 && yy < inst.rows && xx < inst.cols && id(yy, xx) != id(y, x)) change = true;
            }
          ASSERT_TRUE(change) << "edge pixel without an instance change at " << x << "," << y;
          ++edge_pixels;
        }
        // Every instance change is on or next to an edge pixel.
        if (x + 1 < inst.cols && id(y, x) != id(y, x + 1)) {
          ASSERT_TRUE(e.at<std::uint8_t>(y, x) || e.at<std::uint8_t>(y, x + 1));
          ++across;
        }
        if (y + 1 < inst.rows && id(y, x) != id(y + 1, x)) {
          ASSERT_TRUE(e.at<std::uint8_t>(y, x) || e.at<std::uint8_t>(y + 1, x));
          ++down;
        }
      }
  }
  EXPECT_GT(edge_pixels, 0) << "no edge pixel was checked";
  EXPECT_GT(across, 0) << "no horizontal instance change was checked";
  EXPECT_GT(down, 0) << "no vertical instance change was checked";
}

TEST(Synthetic, SaliencyAndPartsFollowTheClasses) {
  GenerateOptions o = render_options();
  int person_pixels = 0;
  for (int i = 0; i < 8; ++i) {
    Rendering r = render_sample(o, 2, i);
    for (int y = 0; y < r.semseg.rows; ++y)
      for (int x = 0; x < r.semseg.cols; ++x) {
        int cls = r.semseg.at<std::uint8_t>(y, x), part = r.parts.at<std::uint8_t>(y, x);
        ASSERT_EQ(part != 0, cls == kPerson) << "part " << part << " on class " << cls;
        ASSERT_LE(part, 6);
        person_pixels += cls == kPerson;
      }
  }
  EXPECT_GT(person_pixels, 0);
  // The on-disk saliency map is the foreground-class mask.
  test::TempDir dir;
  GenerateOptions g = small_options(dir.path() / "s");
  generate(g);
  auto ds = data::open_dataset(dir.path() / "s");
  for (const auto& id : ds->ids("train")) {
    data::Sample s = ds->load(id, {"semseg", "sal"});
    const cv::Mat& seg = s.labels.at("semseg");
    const cv::Mat& sal = s.labels.at("sal");
    for (int y = 0; y < seg.rows; ++y)
      for (int x = 0; x < seg.cols; ++x)
        ASSERT_EQ(sal.at<float>(y, x) == 1.0f, is_foreground(static_cast<int>(seg.at<float>(y, x)))) << id;
  }
}

TEST(Synthetic, EveryClassAppearsInAReasonableShareOfImages) {
  GenerateOptions o = render_options(48, 64);
  std::vector<int> seen(kNumClasses, 0);
  const int n = 80;
  for (int i = 0; i < n; ++i) {
    Rendering r = render_sample(o, 0, i);
    for (int c = 0; c < kNumClasses; ++c) seen[static_cast<std::size_t>(c)] += cv::countNonZero(r.semseg == c) > 0;
  }
  for (int c = 0; c < kNumClasses; ++c)
    EXPECT_GE(seen[static_cast<std::size_t>(c)], n / 8) << class_names()[static_cast<std::size_t>(c)] << " is rare";
  EXPECT_GE(seen[kPerson], n / 3);
  EXPECT_GE(seen[kPillar], n / 4);
}

TEST(Synthetic, DepthHoleFractionIsConfigurable) {
  GenerateOptions o = render_options();
  o.render.depth_hole_fraction = 0.0;
  Rendering none = render_sample(o, 0, 0);
  EXPECT_EQ(cv::countNonZero(none.depth == 0), 0);
  o.render.depth_hole_fraction = 0.05;
  double total = 0;
  for (int i = 0; i < 10; ++i) total += cv::countNonZero(render_sample(o, 0, i).depth == 0);
  double share = total / (10.0 * o.width * o.height);
  EXPECT_GT(share, 0.02);
  EXPECT_LT(share, 0.08);
}

TEST(Synthetic, BadOptionsAreRejectedBeforeAnyOutput) {
  test::TempDir dir;
  GenerateOptions o = small_options(dir.path() / "x");
  o.train = o.val = o.test = 0;
  test::expect_error([&] { generate(o); }, "nothing to generate");
  EXPECT_FALSE(fs::exists(dir.path() / "x"));
  o = small_options(dir.path() / "y");
  generate(o);
  test::expect_error([&] { generate(o); }, {"already exists", "--force"});
}

}  // namespace densemtl::synthetic
