// densemtl generate: the procedural scenes dataset.
#include <iostream>
#include <memory>

#include "densemtl/cli/common.h"
#include "densemtl/core/error.h"
#include "densemtl/core/log.h"
#include "densemtl/core/strings.h"
#include "densemtl/data/synthetic/generator.h"

namespace densemtl::cli {

Subcommand add_generate(CLI::App& root) {
  auto o = std::make_shared<synthetic::GenerateOptions>();
  auto size = std::make_shared<std::string>("96x128");
  auto out = std::make_shared<std::string>();
  CLI::App* app = root.add_subcommand(
      "generate", "Render the procedural indoor-scenes dataset (all six tasks) in the NYUD-MT layout");
  app->add_option("--out", *out, "Output folder (built as <out>.partial, renamed when complete)")->required();
  app->add_option("--size", *size, "Image size HxW")->check(size_validator())->capture_default_str();
  app->add_option("--train", o->train, "Training images")->check(CLI::NonNegativeNumber)->capture_default_str();
  app->add_option("--val", o->val, "Validation images")->check(CLI::NonNegativeNumber)->capture_default_str();
  app->add_option("--test", o->test, "Test images")->check(CLI::NonNegativeNumber)->capture_default_str();
  app->add_option("--seed", o->seed, "Seed: the same seed and settings give byte-identical files")->capture_default_str();
  app->add_option("--threads", o->threads, "Worker threads (0 = all cores)")->check(CLI::NonNegativeNumber)->capture_default_str();
  app->add_option("--depth-holes", o->render.depth_hole_fraction, "Share of pixels with invalid depth (Kinect-like holes)")
      ->check(CLI::Range(0.0, 0.5))->capture_default_str();
  app->add_option("--min-objects", o->scene.min_objects, "Fewest objects per scene")->check(CLI::Range(0, 64))->capture_default_str();
  app->add_option("--max-objects", o->scene.max_objects, "Most objects per scene")->check(CLI::Range(0, 64))->capture_default_str();
  app->add_flag("--supersample", o->render.supersample, "2x2 rays per pixel for the RGB image (labels stay exact)");
  app->add_flag("--force", o->force, "Replace the output folder if it exists");
  return {app, [o, size, out]() {
            auto [h, w] = parse_size(*size, "--size");
            o->height = h;
            o->width = w;
            o->out = *out;
            if (o->scene.min_objects > o->scene.max_objects)
              throw UsageError(fmt::format("--min-objects {} is larger than --max-objects {}", o->scene.min_objects, o->scene.max_objects));
            log_info("rendering {} images of {}x{} into {}", o->train + o->val + o->test, h, w, o->out.string());
            synthetic::GenerateSummary s = synthetic::generate(*o);
            std::cout << "wrote " << o->out.string() << "\n" << s.table() << "\n";
            return 0;
          }};
}

}  // namespace densemtl::cli
