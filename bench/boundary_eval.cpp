// Benchmark: full boundary evaluation (odsF, oisF, AP at 99 thresholds) of NYUD-sized (480x640)
// predictions on this machine's cores, in two input profiles (tests/boundary_inputs.h): `noisy`,
// as hard as a trained network's output, and `mild`. Before the full run it profiles a few images
// threshold by threshold and prints, per threshold band, the predicted pixels before and after
// thinning and the time spent thinning and matching, so the expensive band is visible.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../tests/boundary_inputs.h"
#include "densemtl/core/parallel.h"
#include "densemtl/core/progress.h"
#include "densemtl/tasks/metric.h"
#include "densemtl/vision/boundary_match.h"
#include "densemtl/vision/thinning.h"

using namespace densemtl;

namespace {

const char* kUsage =
    "usage: densemtl_bench_boundary [options]\n"
    "  --profile noisy|mild  input profile (default noisy)\n"
    "  --images N            predictions to evaluate (default 654, NYUD's test split)\n"
    "  --scenes N            distinct ground-truth scenes they cycle through (default 24)\n"
    "  --threads N           threads, 0 = all cores (default 0)\n"
    "  --max-dist D          matching tolerance as a fraction of the diagonal (default 0.011, NYUD's)\n"
    "  --bands N             images profiled per threshold band before the run (default 4, 0 = none)\n"
    "  --verify N            also check N images against the per-threshold exact matcher (default 0)\n"
    "  --help                this text\n";

struct Args {
  std::string profile = "noisy";
  int images = 654, scenes = 24, threads = 0, bands = 4, verify = 0;
  double max_dist = 0.011;
};

bool parse(int argc, char** argv, Args& a) {
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "error: %s needs a value\n%s", k.c_str(), kUsage);
      return false;
    }
    std::string v = argv[++i];
    char* end = nullptr;
    auto integer = [&](int& out, int lo) {
      long x = std::strtol(v.c_str(), &end, 10);
      if (*end || v.empty() || x < lo) return false;
      out = static_cast<int>(x);
      return true;
    };
    bool ok = true;
    if (k == "--profile") ok = (a.profile = v) == "noisy" || v == "mild";
    else if (k == "--images") ok = integer(a.images, 1);
    else if (k == "--scenes") ok = integer(a.scenes, 1);
    else if (k == "--threads") ok = integer(a.threads, 0);
    else if (k == "--bands") ok = integer(a.bands, 0);
    else if (k == "--verify") ok = integer(a.verify, 0);
    else if (k == "--max-dist") {
      a.max_dist = std::strtod(v.c_str(), &end);
      ok = !v.empty() && !*end && a.max_dist > 0 && a.max_dist < 1;
    } else {
      std::fprintf(stderr, "error: unknown option %s\n%s", k.c_str(), kUsage);
      return false;
    }
    if (!ok) {
      std::fprintf(stderr, "error: bad value '%s' for %s\n%s", v.c_str(), k.c_str(), kUsage);
      return false;
    }
  }
  return true;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Per threshold band: pixels before and after thinning, time thinning and matching per image and
// threshold (one thread, the evaluation's own code path with its timing hooks).
void profile_bands(const Args& a, const std::vector<test::BoundaryScene>& scenes) {
  const auto ts = vision::boundary::thresholds();
  struct Band {
    double lo, hi;
    double raw = 0, thin = 0, gt = 0, t_thin = 0, t_match = 0;
    int n = 0;
  };
  std::vector<Band> bands = {{0.0, 0.105}, {0.105, 0.305}, {0.305, 0.605}, {0.605, 1.0}};
  Rng rng(11);
  for (int i = 0; i < a.bands; ++i) {
    const auto& s = scenes[static_cast<std::size_t>(i) % scenes.size()];
    cv::Mat pred = test::boundary_prediction(a.profile, s, rng);
    vision::boundary::Profile prof;
    auto counts = vision::boundary::image_counts(pred, s.gt, ts, a.max_dist, 1, &prof);
    for (std::size_t k = 0; k < ts.size(); ++k)
      for (auto& b : bands)
        if (ts[k] >= b.lo && ts[k] < b.hi) {
          b.raw += static_cast<double>(prof.binarised[k]);
          b.thin += static_cast<double>(counts[k].sum_p);
          b.gt += static_cast<double>(counts[k].sum_r);
          b.t_thin += prof.thin_seconds[k];
          b.t_match += prof.match_seconds[k];
          ++b.n;
        }
  }
  std::printf("per threshold band (%d images, one thread; pixels of 307200):\n", a.bands);
  std::printf("  %-11s %12s %12s %9s %12s %12s %12s\n", "thresholds", "binarised", "thinned", "GT", "thin (ms)", "match (ms)", "total (ms)");
  for (const auto& b : bands) {
    if (b.n == 0) continue;
    std::printf("  %.2f-%.2f   %12.0f %12.0f %9.0f %12.2f %12.2f %12.2f\n", b.lo + 0.005, b.hi - 0.005, b.raw / b.n, b.thin / b.n,
                b.gt / b.n, 1000 * b.t_thin / b.n, 1000 * b.t_match / b.n, 1000 * (b.t_thin + b.t_match) / b.n);
  }
}

// The evaluation's counts against the exact matcher run on each threshold on its own (the
// implementation before the incremental one), with both timed side by side on the same images.
bool verify(const Args& a, const std::vector<test::BoundaryScene>& scenes, int threads) {
  const auto ts = vision::boundary::thresholds();
  std::vector<cv::Mat> preds;
  for (int i = 0; i < a.verify; ++i) {
    Rng rng({13, static_cast<std::uint64_t>(i)});
    preds.push_back(test::boundary_prediction(a.profile, scenes[static_cast<std::size_t>(i) % scenes.size()], rng));
  }
  std::vector<int> bad(preds.size(), 0);
  std::vector<double> t_fast(preds.size()), t_exact(preds.size());
  parallel_for(preds.size(), threads, [&](std::size_t i) {
    const auto& s = scenes[i % scenes.size()];
    auto t0 = std::chrono::steady_clock::now();
    auto fast = vision::boundary::image_counts(preds[i], s.gt, ts, a.max_dist, 1);
    t_fast[i] = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    auto exact = vision::boundary::image_counts_reference(preds[i], s.gt, ts, a.max_dist);
    t_exact[i] = seconds_since(t0);
    for (std::size_t k = 0; k < ts.size(); ++k)
      if (fast[k].cnt_r != exact[k].cnt_r || fast[k].cnt_p != exact[k].cnt_p || fast[k].sum_p != exact[k].sum_p ||
          fast[k].sum_r != exact[k].sum_r)
        ++bad[i];
  });
  int total = 0;
  double sf = 0, se = 0;
  for (std::size_t i = 0; i < preds.size(); ++i) {
    total += bad[i];
    sf += t_fast[i];
    se += t_exact[i];
  }
  std::printf("verify: %d images x %zu thresholds, %d counts differ from the per-threshold exact matcher\n", a.verify, ts.size(), total);
  std::printf("  per image, one thread: per-threshold matcher %.0f ms, incremental %.0f ms (%.1fx faster)\n", 1000 * se / a.verify,
              1000 * sf / a.verify, se / sf);
  return total == 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, a)) return 2;
  const int threads = a.threads > 0 ? a.threads : default_threads();
  std::printf("rendering %d scenes at 480x640 for ground truth...\n", a.scenes);
  std::vector<test::BoundaryScene> scenes(static_cast<std::size_t>(a.scenes));
  parallel_for(scenes.size(), threads, [&](std::size_t i) { scenes[i] = test::boundary_scene(static_cast<int>(i)); });
  if (a.bands > 0) profile_bands(a, scenes);
  bool same = a.verify == 0 || verify(a, scenes, threads);
  std::printf("evaluating %d %s predictions x 99 thresholds, max_dist %.4f, %d threads\n", a.images, a.profile.c_str(), a.max_dist, threads);
  // The predictions are made before the clock starts (a network would make them elsewhere).
  std::vector<cv::Mat> preds(static_cast<std::size_t>(a.images));
  parallel_for(preds.size(), threads, [&](std::size_t i) {
    Rng rng({7, i});
    preds[i] = test::boundary_prediction(a.profile, scenes[i % scenes.size()], rng);
  });
  auto metric = tasks::make_boundary_metric({a.max_dist, 99, threads});
  auto start = std::chrono::steady_clock::now();
  ProgressBar bar("boundary eval", a.images, "img");
  for (std::size_t i = 0; i < preds.size(); ++i) {
    metric->update(preds[i], scenes[i % scenes.size()].gt);
    bar.advance();
  }
  OrderedJson r = metric->result();
  bar.finish();
  double total = seconds_since(start);
  std::printf("odsF %.2f  oisF %.2f  AP %.2f\n", r["odsF"].get<double>(), r["oisF"].get<double>(), r["AP"].get<double>());
  std::printf("wall time %.1f s for %d images (%.1f ms per image, %.2f ms per image and threshold)\n", total, a.images,
              1000 * total / a.images, 1000 * total / a.images / 99);
  if (a.images == 654) std::printf("target: under 120 s for 654 images -> %s\n", total < 120 ? "met" : "missed");
  return same ? 0 : 1;
}
