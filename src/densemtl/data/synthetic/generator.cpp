#include "densemtl/data/synthetic/generator.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>

#include "densemtl/core/error.h"
#include "densemtl/core/json.h"
#include "densemtl/core/log.h"
#include "densemtl/core/parallel.h"
#include "densemtl/core/progress.h"
#include "densemtl/core/rng.h"
#include "densemtl/core/strings.h"
#include "densemtl/vision/io/image.h"
#include "densemtl/vision/io/npy.h"
#include "densemtl/vision/boundaries.h"

namespace densemtl::synthetic {

namespace {

const char* kSplits[3] = {"train", "val", "test"};

struct ImageStats {
  std::array<std::int64_t, kNumClasses> pixels{};
};

Json meta_json(const GenerateOptions& o) {
  Camera c = make_intrinsics(o.scene);
  Json meta;
  meta["name"] = "densemtl-scenes";
  meta["version"] = 1;
  meta["seed"] = o.seed;
  meta["size"] = {o.height, o.width};
  meta["splits"] = {{"train", o.train}, {"val", o.val}, {"test", o.test}};
  meta["class_names"] = class_names();
  meta["part_names"] = part_names();
  meta["intrinsics"] = {{"fx", c.fx}, {"fy", c.fy}, {"cx", c.cx}, {"cy", c.cy}};
  meta["intrinsics_note"] = "pinhole; pixel (u, v) (column, row, integer at the pixel centre) sees direction ((u - cx)/fx, -(v - cy)/fy, -1) in the camera frame";
  meta["normals_frame"] = {{"x", "right"}, {"y", "up"}, {"z", "toward the camera"}};
  meta["depth"] = "z-depth along the optical axis in metres; 0 = invalid";
  meta["edge_max_dist"] = 0.011;
  if (!o.drop_labels.empty()) meta["drop_labels"] = o.drop_labels;
  meta["generator"] = {
      {"hfov_degrees", o.scene.hfov_degrees},
      {"min_objects", o.scene.min_objects},
      {"max_objects", o.scene.max_objects},
      {"max_pictures", o.scene.max_pictures},
      {"supersample", o.render.supersample},
      {"depth_hole_fraction", o.render.depth_hole_fraction},
      {"noise_sigma", o.render.noise_sigma},
  };
  return meta;
}

// The tasks the generator writes labels for.
const char* const kLabelTasks[] = {"semseg", "human_parts", "sal", "normals", "edge", "depth"};

void validate(const GenerateOptions& o) {
  if (o.height < 8 || o.width < 8 || o.height > 4096 || o.width > 4096)
    fail("--size: height and width must be between 8 and 4096, got {}x{}", o.height, o.width);
  if (o.train < 0 || o.val < 0 || o.test < 0) fail("--train/--val/--test: counts must be >= 0");
  if (o.train + o.val + o.test == 0) fail("--train/--val/--test: nothing to generate (all counts are 0)");
  if (o.render.depth_hole_fraction < 0 || o.render.depth_hole_fraction > 0.5)
    fail("--depth-holes: expected a fraction in [0, 0.5], got {}", o.render.depth_hole_fraction);
  if (o.scene.min_objects < 0 || o.scene.max_objects < o.scene.min_objects)
    fail("objects: need 0 <= min <= max, got {}..{}", o.scene.min_objects, o.scene.max_objects);
  for (const auto& [task, rate] : o.drop_labels) {
    if (std::find(std::begin(kLabelTasks), std::end(kLabelTasks), task) == std::end(kLabelTasks))
      fail("--drop-labels: unknown task '{}' (tasks: {})", task, join(std::vector<std::string>(std::begin(kLabelTasks), std::end(kLabelTasks)), ", "));
    if (!(rate >= 0 && rate <= 1)) fail("--drop-labels: {}={} is not a share in [0, 1]", task, rate);
  }
}

GenerateOptions with_size(GenerateOptions o) {
  o.scene.width = o.width;
  o.scene.height = o.height;
  return o;
}

}  // namespace

std::string sample_id(int split, int index) { return fmt::format("{}_{:05d}", kSplits[split], index); }

Rendering render_sample(const GenerateOptions& options, int split, int index) {
  GenerateOptions o = with_size(options);
  Rng scene_rng({o.seed, 0x5ce9eull, static_cast<std::uint64_t>(split), static_cast<std::uint64_t>(index)});
  Rng render_rng({o.seed, 0x9e9dull, static_cast<std::uint64_t>(split), static_cast<std::uint64_t>(index)});
  Scene scene = sample_scene(o.scene, scene_rng);
  return render(scene, o.render, render_rng);
}

double GenerateSummary::images_per_second() const { return seconds > 0 ? images() / seconds : 0; }

std::string GenerateSummary::table() const {
  std::string s = fmt::format("images: {} train, {} val, {} test ({} in all)\n", counts[0], counts[1], counts[2], images());
  s += fmt::format("{:<10} {:>14} {:>12}\n", "class", "in % of images", "% of pixels");
  for (std::size_t c = 0; c < class_names().size(); ++c)
    s += fmt::format("{:<10} {:>14.1f} {:>12.2f}\n", class_names()[c], 100 * image_share[c], 100 * pixel_share[c]);
  s += fmt::format("time: {} ({:.1f} images/s, {:.0f} images/min)", format_duration(seconds), images_per_second(),
                   60 * images_per_second());
  return s;
}

bool label_dropped(const GenerateOptions& o, const std::string& task, int split, int index) {
  auto it = o.drop_labels.find(task);
  if (it == o.drop_labels.end() || it->second <= 0) return false;
  std::uint64_t tag = 0;
  for (char c : task) tag = tag * 131 + static_cast<unsigned char>(c);
  Rng rng({o.seed, 0x1abe1ull, tag, static_cast<std::uint64_t>(split), static_cast<std::uint64_t>(index)});
  return rng.uniform() < it->second;
}

GenerateSummary generate(const GenerateOptions& options) {
  validate(options);
  GenerateOptions o = with_size(options);
  auto start = std::chrono::steady_clock::now();
  StagingDir staging(o.out, o.force);
  const fs::path root = staging.path();
  for (const char* d : {"gt_sets", "images", "segmentation", "depth", "normals", "edge", "sal", "human_parts", "instances"})
    fs::create_directories(root / d);
  write_json(root / "meta.json", meta_json(o));
  const int counts[3] = {o.train, o.val, o.test};
  for (int s = 0; s < 3; ++s) {
    std::string list;
    for (int i = 0; i < counts[s]; ++i) list += sample_id(s, i) + "\n";
    write_file_atomic(root / "gt_sets" / (std::string(kSplits[s]) + ".txt"), list);
  }
  // Partially labelled tasks: the ids that keep their label.
  for (const auto& [task, rate] : o.drop_labels) {
    if (rate <= 0) continue;
    fs::create_directories(root / "gt_sets" / "labelled");
    std::string list;
    for (int s = 0; s < 3; ++s)
      for (int i = 0; i < counts[s]; ++i)
        if (!label_dropped(o, task, s, i)) list += sample_id(s, i) + "\n";
    write_file_atomic(root / "gt_sets" / "labelled" / (task + ".txt"), list);
  }

  struct Job {
    int split, index;
  };
  std::vector<Job> jobs;
  for (int s = 0; s < 3; ++s)
    for (int i = 0; i < counts[s]; ++i) jobs.push_back({s, i});
  std::vector<ImageStats> stats(jobs.size());
  ProgressBar bar("generate", static_cast<std::int64_t>(jobs.size()), "img");
  parallel_for(jobs.size(), o.threads, [&](std::size_t j) {
    const Job& job = jobs[j];
    Rendering r = render_sample(o, job.split, job.index);
    const std::string id = sample_id(job.split, job.index);
    image::write_rgb(root / "images" / (id + ".jpg"), r.rgb, 95);
    auto keep = [&](const char* task) { return !label_dropped(o, task, job.split, job.index); };
    if (keep("semseg")) {
      cv::Mat seg_disk;
      r.semseg.convertTo(seg_disk, CV_8U, 1, 1);  // NYUD convention: 0 = ignore, k = class k - 1
      image::write(root / "segmentation" / (id + ".png"), seg_disk);
    }
    if (keep("depth")) npy::write_mat(root / "depth" / (id + ".npy"), r.depth);
    if (keep("normals")) npy::write_mat(root / "normals" / (id + ".npy"), r.normals);
    if (keep("edge")) {
      cv::Mat edge;
      vision::seg2bmap(r.instances).convertTo(edge, CV_32F);
      npy::write_mat(root / "edge" / (id + ".npy"), edge);
    }
    if (keep("sal")) {
      cv::Mat sal(r.semseg.size(), CV_8U);
      for (int y = 0; y < sal.rows; ++y)
        for (int x = 0; x < sal.cols; ++x) sal.at<std::uint8_t>(y, x) = is_foreground(r.semseg.at<std::uint8_t>(y, x)) ? 255 : 0;
      image::write(root / "sal" / (id + ".png"), sal);
    }
    if (keep("human_parts")) image::write(root / "human_parts" / (id + ".png"), r.parts);
    image::write(root / "instances" / (id + ".png"), r.instances);
    for (int y = 0; y < r.semseg.rows; ++y)
      for (int x = 0; x < r.semseg.cols; ++x) ++stats[j].pixels[r.semseg.at<std::uint8_t>(y, x)];
    bar.advance();
  });
  bar.finish();
  staging.commit();

  GenerateSummary summary;
  summary.counts = {o.train, o.val, o.test};
  summary.image_share.assign(kNumClasses, 0);
  summary.pixel_share.assign(kNumClasses, 0);
  double total_pixels = 0;
  for (const auto& st : stats) {
    for (int c = 0; c < kNumClasses; ++c) {
      if (st.pixels[static_cast<std::size_t>(c)]) summary.image_share[static_cast<std::size_t>(c)] += 1;
      summary.pixel_share[static_cast<std::size_t>(c)] += static_cast<double>(st.pixels[static_cast<std::size_t>(c)]);
      total_pixels += static_cast<double>(st.pixels[static_cast<std::size_t>(c)]);
    }
  }
  for (int c = 0; c < kNumClasses; ++c) {
    summary.image_share[static_cast<std::size_t>(c)] /= static_cast<double>(stats.size());
    summary.pixel_share[static_cast<std::size_t>(c)] /= total_pixels;
  }
  summary.person_image_share = summary.image_share[kPerson];
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace densemtl::synthetic
