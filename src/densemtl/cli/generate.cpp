// densemtl generate: the procedural scenes dataset.
#include <iostream>
#include <memory>

#include "densemtl/cli/common.h"
#include "densemtl/core/error.h"
#include "densemtl/core/log.h"
#include "densemtl/core/strings.h"
#include "densemtl/data/synthetic/generator.h"

namespace densemtl::cli {

namespace {
constexpr int kMaxImages = 10'000'000;
constexpr int kMaxSide = 8192;
}  // namespace

Subcommand add_generate(CLI::App& root) {
  auto o = std::make_shared<synthetic::GenerateOptions>();
  auto size = std::make_shared<std::string>("96x128");
  auto out = std::make_shared<std::string>();
  auto drop = std::make_shared<std::vector<std::string>>();
  CLI::App* app = root.add_subcommand(
      "generate", "Render the procedural indoor-scenes dataset (all six tasks) in the NYUD-MT layout");
  app->add_option("--out", *out, "Output folder (built as <out>.partial, renamed when complete)")->required()->check(path_validator());
  app->add_option("--size", *size, "Image size HxW")->check(size_validator())->capture_default_str();
  app->add_option("--train", o->train, "Training images")->check(CLI::Range(0, kMaxImages))->capture_default_str();
  app->add_option("--val", o->val, "Validation images (default: an eighth of --train, 100 for 800)")->check(CLI::Range(0, kMaxImages));
  app->add_option("--test", o->test, "Test images (default: a quarter of --train, 200 for 800)")->check(CLI::Range(0, kMaxImages));
  app->add_option("--seed", o->seed, "Seed: the same seed and settings give byte-identical files")->capture_default_str();
  app->add_option("--threads", o->threads, "Worker threads (0 = all cores)")->check(CLI::Range(0, 1024))->capture_default_str();
  app->add_option("--depth-holes", o->render.depth_hole_fraction, "Share of pixels with invalid depth (Kinect-like holes)")
      ->check(CLI::Range(0.0, 0.5))->capture_default_str();
  app->add_option("--min-objects", o->scene.min_objects, "Fewest objects per scene")->check(CLI::Range(0, 64))->capture_default_str();
  app->add_option("--max-objects", o->scene.max_objects, "Most objects per scene")->check(CLI::Range(0, 64))->capture_default_str();
  app->add_flag("--supersample", o->render.supersample, "2x2 rays per pixel for the RGB image (labels stay exact)");
  app->add_flag("--force", o->force, "Replace the output folder if it exists");
  app->add_option("--drop-labels", *drop,
                  "Partially labelled data: TASK=SHARE leaves out that share of the task's labels, drawn per image from the "
                  "seed (e.g. --drop-labels depth=0.5 semseg=0.25)");
  return {app, [o, size, out, drop, app]() {
            for (const auto& item : *drop) {
              auto eq = item.find('=');
              if (eq == std::string::npos || eq == 0) throw UsageError(fmt::format("--drop-labels: expected TASK=SHARE, got '{}'", item));
              std::string task = item.substr(0, eq), value = item.substr(eq + 1);
              double share = 0;
              try {
                std::size_t used = 0;
                share = std::stod(value, &used);
                if (used != value.size()) throw std::invalid_argument(value);
              } catch (const std::exception&) {
                throw UsageError(fmt::format("--drop-labels: '{}' is not a number in {}", value, item));
              }
              if (o->drop_labels.count(task)) throw UsageError(fmt::format("--drop-labels: task '{}' given twice", task));
              o->drop_labels[task] = share;
            }
            auto [h, w] = parse_size(*size, "--size");
            if (h > kMaxSide || w > kMaxSide) throw UsageError(fmt::format("--size {}: at most {} pixels a side", *size, kMaxSide));
            o->height = h;
            o->width = w;
            // Validation and test splits follow the training split's size unless given (800: 100, 200).
            if (app->count("--val") == 0) o->val = o->train == 0 ? 0 : std::max(1, o->train / 8);
            if (app->count("--test") == 0) o->test = o->train == 0 ? 0 : std::max(1, o->train / 4);
            o->out = *out;
            if (o->scene.min_objects > o->scene.max_objects)
              throw UsageError(fmt::format("--min-objects {} is larger than --max-objects {}", o->scene.min_objects, o->scene.max_objects));
            log_info("rendering {} images of {}x{} ({} train, {} val, {} test) into {}", o->train + o->val + o->test, h, w, o->train,
                     o->val, o->test, o->out.string());
            synthetic::GenerateSummary s = synthetic::generate(*o);
            std::cout << "wrote " << o->out.string() << "\n" << s.table() << "\n";
            return 0;
          }};
}

}  // namespace densemtl::cli
