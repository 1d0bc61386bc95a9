// Benchmark: full boundary evaluation (odsF, oisF, AP at 99 thresholds) of NYUD-sized (480x640)
// predictions on this machine's cores. Ground truth: boundaries of procedural scenes rendered at
// 480x640; predictions: soft boundary maps shaped like a network's output (a blurred, slightly
// displaced copy of the ground truth with missed stretches and spurious responses, over a smooth
// low-level background response), different for every image.
//
//   build/densemtl_bench_boundary [--images 654] [--scenes 24] [--threads 0] [--max-dist 0.011]
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "densemtl/core/parallel.h"
#include "densemtl/core/progress.h"
#include "densemtl/core/rng.h"
#include "densemtl/data/synthetic/generator.h"
#include "densemtl/vision/boundary_match.h"
#include "densemtl/tasks/metric.h"
#include "densemtl/vision/thinning.h"
#include "densemtl/vision/boundaries.h"

using namespace densemtl;

namespace {

cv::Mat soft_prediction(const cv::Mat& gt, Rng& rng) {
  cv::Mat p = gt.clone();
  // Missed stretches and spurious responses.
  for (int k = 0; k < 12; ++k) {
    cv::Point c(rng.randint(0, gt.cols - 1), rng.randint(0, gt.rows - 1));
    cv::circle(p, c, rng.randint(8, 30), cv::Scalar(0), -1);
  }
  for (int k = 0; k < 10; ++k) {
    cv::Point a(rng.randint(0, gt.cols - 1), rng.randint(0, gt.rows - 1));
    cv::Point b = a + cv::Point(rng.randint(-60, 60), rng.randint(-60, 60));
    cv::line(p, a, b, cv::Scalar(1), 1);
  }
  // A sub-pixel jitter of the whole map and a blur make a soft, slightly displaced response.
  cv::Mat f;
  p.convertTo(f, CV_32F);
  cv::Mat m = (cv::Mat_<double>(2, 3) << 1, 0, rng.uniform(-1.5, 1.5), 0, 1, rng.uniform(-1.5, 1.5));
  cv::warpAffine(f, f, m, f.size(), cv::INTER_LINEAR);
  cv::GaussianBlur(f, f, {0, 0}, rng.uniform(1.0, 2.0));
  // A smooth background response (networks trained with class-balanced losses rarely output 0).
  cv::Mat coarse(12, 16, CV_32F), background;
  cv::randu(coarse, 0.0, rng.uniform(0.05, 0.2));
  cv::resize(coarse, background, f.size(), 0, 0, cv::INTER_CUBIC);
  f = f * 2.5 + background;
  cv::Mat out;
  f.convertTo(out, CV_8U, 255.0);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int images = 654, scenes = 24, threads = 0;
  double max_dist = 0.011;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--images") images = std::atoi(argv[i + 1]);
    else if (a == "--scenes") scenes = std::atoi(argv[i + 1]);
    else if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--max-dist") max_dist = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (threads <= 0) threads = default_threads();
  bool profile = std::getenv("DENSEMTL_BENCH_PROFILE") != nullptr;
  std::printf("rendering %d scenes at 480x640 for ground truth...\n", scenes);
  synthetic::GenerateOptions g;
  g.height = 480;
  g.width = 640;
  g.seed = 1;
  std::vector<cv::Mat> gts(static_cast<std::size_t>(scenes));
  parallel_for(gts.size(), threads, [&](std::size_t i) {
    gts[i] = vision::seg2bmap(synthetic::render_sample(g, 0, static_cast<int>(i)).instances);
  });
  if (profile) {
    // Where one image's time goes: binarise + thin vs. matching, over the 99 thresholds.
    Rng r(3);
    cv::Mat pred = soft_prediction(gts[0], r);
    cv::Mat gt = vision::thin(gts[0] != 0);
    double t_thin = 0, t_match = 0;
    std::int64_t pixels = 0, matches = 0;
    for (double t : vision::boundary::thresholds()) {
      auto t0 = std::chrono::steady_clock::now();
      cv::Mat e = vision::thin(pred >= t * 255.0 - 1e-9);
      auto t1 = std::chrono::steady_clock::now();
      auto m = vision::boundary::correspond(e, gt, max_dist);
      auto t2 = std::chrono::steady_clock::now();
      t_thin += std::chrono::duration<double>(t1 - t0).count();
      t_match += std::chrono::duration<double>(t2 - t1).count();
      pixels += cv::countNonZero(e);
      matches += m.matches;
    }
    std::printf("one image: thinning %.1f ms, matching %.1f ms over 99 thresholds; %lld predicted and %d GT pixels per threshold on average, %lld matches\n",
                1000 * t_thin, 1000 * t_match, static_cast<long long>(pixels / 99), cv::countNonZero(gt), static_cast<long long>(matches / 99));
    return 0;
  }
  std::printf("evaluating %d predictions x 99 thresholds, max_dist %.4f, %d threads\n", images, max_dist, threads);
  auto metric = tasks::make_boundary_metric({max_dist, 99, threads});
  Rng rng(7);
  double prepare = 0;
  auto start = std::chrono::steady_clock::now();
  ProgressBar bar("boundary eval", images, "img");
  for (int i = 0; i < images; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    const cv::Mat& gt = gts[static_cast<std::size_t>(i % scenes)];
    cv::Mat pred = soft_prediction(gt, rng);
    prepare += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    metric->update(pred, gt);
    bar.advance();
  }
  OrderedJson r = metric->result();
  bar.finish();
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("odsF %.2f  oisF %.2f  AP %.2f\n", r["odsF"].get<double>(), r["oisF"].get<double>(), r["AP"].get<double>());
  std::printf("wall time %.1f s for %d images (%.1f ms per image, %.2f ms per image and threshold; "
              "making the synthetic predictions took %.1f s of it)\n",
              total, images, 1000 * total / images, 1000 * total / images / 99, prepare);
  std::printf("target: under 120 s for 654 images -> %s\n", images == 654 ? (total < 120 ? "met" : "missed") : "(run with --images 654)");
  return 0;
}
