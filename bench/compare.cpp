// densemtl's side of the comparison benchmark (bench/compare.py runs it beside the PyTorch
// version, bench/python/compare.py). One measurement per process, one JSON line on stdout:
//   densemtl_bench_compare train  --model st_r18|mt_r18|mtan_r18|mt_hrnet|mti_net|pad_net --size HxW --batch B [--threads T] [--iters N] [--warmup W]
//   densemtl_bench_compare infer  --model ... --size HxW [--threads T] [--iters N] [--warmup W] [--plain] [--graph]
// --plain turns off what densemtl does by default (NHWC layout; for inference, folded batch norms).
//   densemtl_bench_compare data   --data DIR --size HxW --batch B [--workers W] [--iters N] [--warmup W]
//   densemtl_bench_compare matmul [--threads T]
// On a GPU (CUDA build of LibTorch): --device cuda, --amp (bf16 autocast), and for inference
// --graph (the forward pass captured once as a CUDA graph and replayed).
// --count-ops (train): also counts the operators dispatched in one training step, by name (the
// CPU-side work a GPU step has to launch; compare with the Python side's count).
// Times are medians over the timed iterations (the GPU synchronised before each clock reading);
// peak_rss_mb is the process's maximum resident size, peak_gpu_mb the caching allocator's peak.
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#ifdef DENSEMTL_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <ATen/record_function.h>

#include <mutex>

#include "common.h"
#include "densemtl/core/device.h"
#include "densemtl/core/rng.h"
#include "densemtl/core/strings.h"
#include "densemtl/core/torch_setup.h"
#include "densemtl/data/dataset.h"
#include "densemtl/data/loader.h"
#include "densemtl/models/build.h"
#include "densemtl/models/inference.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/train/multi_tensor_optim.h"
#include "densemtl/train/run.h"
#include "densemtl/train/step.h"

using namespace densemtl;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string what, model = "mt_r18", data = "data/scenes", device = "cpu";
  int height = 96, width = 128, batch = 4, threads = 2, iters = 5, warmup = 2, workers = 2;
  bool plain = false, amp = false, graph = false, count_ops = false;
};

// Counts every operator dispatched while alive (all threads: backward may run on others).
class OpCounter {
 public:
  OpCounter() {
    handle_ = at::addGlobalCallback(at::RecordFunctionCallback(
                                        [](const at::RecordFunction& fn) -> std::unique_ptr<at::ObserverContext> {
                                          std::lock_guard<std::mutex> lock(mutex());
                                          ++counts()[fn.name()];
                                          return nullptr;
                                        })
                                        .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
  }
  ~OpCounter() { at::removeCallback(handle_); }
  static std::map<std::string, long>& counts() {
    static std::map<std::string, long> c;
    return c;
  }
  // {"total": N, "top": {"name": n, ...}} with the `top` most frequent names.
  static std::string json(std::size_t top) {
    std::vector<std::pair<long, std::string>> v;
    long total = 0;
    for (const auto& [name, n] : counts()) {
      v.emplace_back(n, name);
      total += n;
    }
    std::sort(v.rbegin(), v.rend());
    std::string s = fmt::format("{{\"total\": {}, \"top\": {{", total);
    for (std::size_t i = 0; i < std::min(top, v.size()); ++i) s += fmt::format("{}\"{}\": {}", i ? ", " : "", v[i].second, v[i].first);
    return s + "}}";
  }

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  at::CallbackHandle handle_;
};

c10::Device g_device(c10::kCPU);

void sync() {
  if (g_device.is_cuda()) torch::cuda::synchronize();
}

double peak_gpu_mb() {
#ifdef DENSEMTL_WITH_CUDA
  if (g_device.is_cuda()) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(0);
    return static_cast<double>(stats.allocated_bytes[0].peak) / (1024.0 * 1024.0);
  }
#endif
  return 0.0;
}

using bench::build_benchmark_model;
using bench::make_labels;
using bench::median;

void report(const Args& a, const std::string& extra) {
  std::printf("{\"side\": \"densemtl\", \"what\": \"%s\", \"model\": \"%s\", \"threads\": %d, \"device\": \"%s\", \"amp\": %s, %s, "
              "\"peak_rss_mb\": %.1f, \"peak_gpu_mb\": %.1f}\n",
              a.what.c_str(), a.model.c_str(), a.threads, a.device.c_str(), a.amp ? "true" : "false", extra.c_str(), train::peak_memory_mb(),
              peak_gpu_mb());
}

int train_step(const Args& a) {
  torch::manual_seed(0);
  models::Architecture model = build_benchmark_model(a.model);
  model->train();
  model->to(g_device);
  const bool nhwc = !a.plain;  // densemtl's default (model.channels_last)
  if (nhwc) models::to_channels_last(*model);
  train::MultiTensorAdam opt(model->parameters(), torch::optim::AdamOptions(1e-4).weight_decay(1e-4));  // densemtl's Adam
  torch::Tensor x = torch::randn({a.batch, 3, a.height, a.width}).to(g_device);
  if (nhwc) x = x.contiguous(at::MemoryFormat::ChannelsLast);
  auto labels = make_labels(model->spec().tasks, a.batch, a.height, a.width);
  for (auto& [t, y] : labels) y = y.to(g_device);
  // The trainer's own step (train/step.h): forward, losses, one read-back, the balancer's backward
  // (fixed weights 1), the optimizer step.
  const tasks::TaskSet task_set(model->spec().tasks, nullptr);
  train::StepSetup setup;
  setup.tasks = &task_set;
  setup.main = model->spec().tasks;
  setup.amp = a.amp;
  setup.device = g_device;
  balancing::Setup bs;
  bs.tasks = model->spec().tasks;
  auto balancer = balancing::make_balancer("fixed", bs);
  std::vector<double> times, host_times;  // host_times: until the step is queued (before the GPU sync)
  std::unique_ptr<OpCounter> counter;
  for (int it = 0; it < a.warmup + a.iters; ++it) {
    if (a.count_ops && it == a.warmup + a.iters - 1) counter = std::make_unique<OpCounter>();  // the last step
    sync();
    auto t0 = Clock::now();
    train::train_step(*model, *balancer, opt, x, labels, setup);
    double queued = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    sync();
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (it >= a.warmup) {
      times.push_back(ms);
      host_times.push_back(queued);
    }
  }
  counter.reset();
  double gflops = 2.0 * static_cast<double>(models::count_macs(*model, a.height, a.width)) / 1e9;
  std::string ops = a.count_ops ? ", \"ops_per_step\": " + OpCounter::json(25) : "";
  report(a, fmt::format("\"batch\": {}, \"size\": [{}, {}], \"median_ms\": {:.3f}, \"host_ms\": {:.3f}, \"gflops_forward_per_image\": {:.4f}, \"params\": {}, \"plain\": {}{}",
                        a.batch, a.height, a.width, median(times), median(host_times), gflops, models::count_parameters(*model).total, a.plain ? "true" : "false", ops));
  return 0;
}

int inference(const Args& a) {
  torch::manual_seed(0);
  models::Architecture model = build_benchmark_model(a.model);
  model->eval();
  double gflops = 2.0 * static_cast<double>(models::count_macs(*model, a.height, a.width)) / 1e9;
  const bool nhwc = !a.plain;  // densemtl's defaults: batch norms folded, NHWC
  model->to(g_device);  // as densemtl's evaluate and predict: on the device first, then folded
  if (!a.plain) models::prepare_for_inference(*model, nhwc);
  torch::Tensor x = torch::randn({1, 3, a.height, a.width}).to(g_device);
  if (nhwc) x = x.contiguous(at::MemoryFormat::ChannelsLast);
  std::vector<double> times;
  std::function<void()> step = [&] {
    Autocast autocast(a.amp, g_device);
    models::ModelOutput out = model->forward(x);
  };
  c10::InferenceMode guard;
#ifdef DENSEMTL_WITH_CUDA
  // CUDA graph: warm up on a side stream, capture one forward pass, then replay it (the input
  // tensor x and the outputs are the graph's static buffers; a caller copies into x).
  std::unique_ptr<at::cuda::CUDAGraph> graph;
  models::ModelOutput captured;
  if (a.graph && g_device.is_cuda()) {
    c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool();
    {
      c10::cuda::CUDAStreamGuard on_side(side);
      for (int i = 0; i < 3; ++i) step();
      side.synchronize();
      graph = std::make_unique<at::cuda::CUDAGraph>();
      graph->capture_begin();
      {
        Autocast autocast(a.amp, g_device);
        captured = model->forward(x);
      }
      graph->capture_end();
    }
    torch::cuda::synchronize();
    step = [&] { graph->replay(); };
  }
#endif
  if (a.graph && !g_device.is_cuda()) throw std::runtime_error("--graph needs --device cuda and a CUDA build");
  for (int it = 0; it < a.warmup + a.iters; ++it) {
    sync();
    auto t0 = Clock::now();
    step();
    sync();
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (it >= a.warmup) times.push_back(ms);
  }
  report(a, fmt::format("\"batch\": 1, \"size\": [{}, {}], \"median_ms\": {:.3f}, \"gflops_forward_per_image\": {:.4f}, \"plain\": {}, \"graph\": {}",
                        a.height, a.width, median(times), gflops, a.plain ? "true" : "false", a.graph ? "true" : "false"));
  return 0;
}

int data_pipeline(const Args& a) {
  auto ds = data::open_dataset(a.data);
  data::PipelineOptions p;
  p.size = cv::Size(a.width, a.height);
  p.augment.flip = true;
  p.augment.scales = {1.0, 1.2, 1.5};
  p.normals_y_down = ds->info().normals_y_down;
  data::LoaderOptions lo;
  lo.batch_size = a.batch;
  lo.shuffle = true;
  lo.drop_last = true;
  lo.workers = a.workers;
  lo.prefetch = 2;
  std::vector<std::string> task_list = {"semseg", "normals", "edge", "depth"};
  data::Loader loader(*ds, ds->ids("train"), task_list, data::Pipeline(p, true), lo);
  loader.start_epoch(0);
  int batches = 0;
  Clock::time_point start;
  for (int it = 0; it < a.warmup + a.iters; ++it) {
    if (it == a.warmup) start = Clock::now();
    auto b = loader.next();
    if (!b) break;
    if (it >= a.warmup) ++batches;
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  report(a, fmt::format("\"batch\": {}, \"size\": [{}, {}], \"workers\": {}, \"images_per_second\": {:.2f}", a.batch, a.height, a.width,
                        a.workers, batches * a.batch / seconds));
  return 0;
}

// Two ceilings: a 2048^3 matrix multiply through BLAS (torch::mm), and the same kind of work as
// a large 1x1 convolution in NHWC, which LibTorch runs through oneDNN's JIT kernels.
int matmul(const Args& a) {
  auto time_it = [](const std::function<void()>& f) {
    std::vector<double> times;
    for (int it = 0; it < 3 + 10; ++it) {
      auto t0 = Clock::now();
      f();
      double s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (it >= 3) times.push_back(s);
    }
    return median(times);
  };
  if (g_device.is_cuda()) {
    const int n = 8192;
    auto rate = [&](torch::ScalarType type) {
      torch::Tensor x = torch::randn({n, n}, torch::TensorOptions().device(g_device).dtype(type));
      torch::Tensor y = torch::randn({n, n}, torch::TensorOptions().device(g_device).dtype(type));
      return 2.0 * n * n * static_cast<double>(n) / time_it([&] { torch::mm(x, y); sync(); }) / 1e9;
    };
    double bf16 = rate(torch::kBFloat16), fp32 = rate(torch::kFloat32);
    report(a, fmt::format("\"gflops_per_second\": {:.2f}, \"bf16_gflops_per_second\": {:.2f}", fp32, bf16));
    return 0;
  }
  const int n = 2048;
  torch::Tensor x = torch::randn({n, n}), y = torch::randn({n, n});
  double blas = 2.0 * n * n * static_cast<double>(n) / time_it([&] { torch::mm(x, y); }) / 1e9;
  torch::Tensor in = torch::randn({16, 512, 64, 64}).contiguous(at::MemoryFormat::ChannelsLast);
  torch::Tensor w = torch::randn({512, 512, 1, 1}).contiguous(at::MemoryFormat::ChannelsLast);
  double onednn = 2.0 * 16 * 512 * 512 * 64 * 64 / time_it([&] { torch::conv2d(in, w); }) / 1e9;
  report(a, fmt::format("\"gflops_per_second\": {:.2f}, \"onednn_gflops_per_second\": {:.2f}", blas, onednn));
  return 0;
}

}  // namespace

int run(int argc, char** argv);

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "densemtl_bench_compare: %s\n", e.what());
    return 1;
  }
}

int run(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: densemtl_bench_compare train|infer|data|matmul [options]\n");
    return 2;
  }
  Args a;
  a.what = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("missing value for " + k);
      return argv[++i];
    };
    if (k == "--model") a.model = value();
    else if (k == "--data") a.data = value();
    else if (k == "--size") std::tie(a.height, a.width) = parse_size(value(), "--size");
    else if (k == "--batch") a.batch = std::stoi(value());
    else if (k == "--threads") a.threads = std::stoi(value());
    else if (k == "--iters") a.iters = std::stoi(value());
    else if (k == "--warmup") a.warmup = std::stoi(value());
    else if (k == "--workers") a.workers = std::stoi(value());
    else if (k == "--plain") a.plain = true;
    else if (k == "--device") a.device = value();
    else if (k == "--amp") a.amp = true;
    else if (k == "--graph") a.graph = true;
    else if (k == "--count-ops") a.count_ops = true;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  setup_torch(a.threads);
  g_device = select_device(a.device, "--device");
  if (a.what == "train") return train_step(a);
  if (a.what == "infer") return inference(a);
  if (a.what == "data") return data_pipeline(a);
  if (a.what == "matmul") return matmul(a);
  std::fprintf(stderr, "unknown measurement %s\n", a.what.c_str());
  return 2;
}
