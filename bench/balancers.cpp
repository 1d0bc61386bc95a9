// What each task-balancing method costs: time per training step and extra peak memory against
// fixed weights, on the same model and batch (the multi-task ResNet-18 baseline with semseg,
// normals, edge and depth; random images and labels).
//
//   densemtl_bench_balancers [--size HxW] [--batch B] [--width W] [--threads T] [--iters N]
//                            [--warmup N] [--methods a,b,...] [--out FILE]
//
// Every method is measured in each of its modes (balancer.<name>.mode: gradients on the shared
// parameters or on the shared representation), each in a process of its own, so that a process's
// peak resident memory is that method's; fixed weights run first and last, and the ratios are
// against the mean of those two runs (their difference shows the noise). The table is printed
// and, with --out, written as Markdown.
//   densemtl_bench_balancers --one METHOD [--mode MODE] ...   one measurement, one JSON line
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common.h"
#include "densemtl/balancing/balancer.h"
#include "densemtl/core/error.h"
#include "densemtl/core/json.h"
#include "densemtl/core/strings.h"
#include "densemtl/core/torch_setup.h"
#include "densemtl/models/inference.h"
#include "densemtl/tasks/registry.h"
#include "densemtl/train/experiment.h"
#include "densemtl/train/multi_tensor_optim.h"
#include "densemtl/train/run.h"
#include "densemtl/train/step.h"

using namespace densemtl;
using Clock = std::chrono::steady_clock;

namespace {

const char* kUsage =
    "usage: densemtl_bench_balancers [--size HxW] [--batch B] [--width W] [--threads T] [--iters N] [--warmup N]\n"
    "                                [--methods a,b,...] [--out FILE]\n"
    "Times one training step of the multi-task ResNet-18 baseline (4 tasks) under every balancing method\n"
    "(each mode of it), one process per measurement, and prints time and extra peak memory against fixed weights.\n"
    "defaults: --size 96x128 --batch 4 --width 1 --threads 2 --iters 5 --warmup 2, all methods\n";

struct Args {
  std::string one, mode, methods, out;
  int height = 96, width_px = 128, batch = 4, threads = 2, iters = 5, warmup = 2;
  double width = 1.0;
};

std::string mode_label(balancing::Mode m) {
  switch (m) {
    case balancing::Mode::Losses: return "losses";
    case balancing::Mode::Parameters: return "params";
    case balancing::Mode::Representation: return "rep";
  }
  return "?";
}

const std::vector<std::string> kTasks = {"semseg", "normals", "edge", "depth"};

std::unique_ptr<balancing::Balancer> make(const std::string& name, const std::string& mode, std::shared_ptr<config::Config>& keep) {
  std::vector<std::string> overrides = {"balancer.name=" + name};
  if (!mode.empty()) overrides.push_back("balancer." + name + ".mode=" + mode);
  keep = std::make_shared<config::Config>(config::Config::parse(
      experiment_schema(),
      "data: {dataset: synthetic, root: x}\ntasks: {main: [semseg, normals, edge, depth]}\n"
      "model: {architecture: baseline, head: deeplab}\nbackbone: {name: resnet18}\noptimizer: {name: adam, lr: 0.0001}\n"
      "train: {epochs: 1}\n",
      "bench", overrides));
  balancing::Setup s;
  s.tasks = kTasks;
  if (keep->has("balancer." + name)) s.options = config::View(*keep, "balancer." + name);
  return balancing::make_balancer(name, s);
}

// One method in this process: warm-up steps, then the median of the timed steps.
int measure_one(const Args& a) {
  torch::manual_seed(0);
  std::shared_ptr<config::Config> keep;
  auto balancer = make(a.one, a.mode, keep);
  models::Architecture model = bench::build_benchmark_model("mt_r18", a.width);
  model->train();
  models::to_channels_last(*model);
  balancer->check(*model);
  std::vector<torch::Tensor> params = model->parameters();
  for (auto& p : balancer->parameters()) params.push_back(p);
  train::MultiTensorAdam opt(params, torch::optim::AdamOptions(1e-4).weight_decay(1e-4));
  torch::Tensor x = torch::randn({a.batch, 3, a.height, a.width_px}).contiguous(at::MemoryFormat::ChannelsLast);
  auto labels = bench::make_labels(kTasks, a.batch, a.height, a.width_px);
  torch::Tensor val_x = torch::randn({a.batch, 3, a.height, a.width_px}).contiguous(at::MemoryFormat::ChannelsLast);
  auto val_labels = bench::make_labels(kTasks, a.batch, a.height, a.width_px);
  const tasks::TaskSet task_set(kTasks, nullptr);
  train::StepSetup setup;
  setup.tasks = &task_set;
  setup.main = kTasks;
  setup.validation_batch = [&] { return std::make_pair(val_x, val_labels); };
  const double setup_mb = train::peak_memory_mb();
  std::vector<double> times;
  for (int it = 0; it < a.warmup + a.iters; ++it) {
    auto t0 = Clock::now();
    train::train_step(*model, *balancer, opt, x, labels, setup, 0, it);
    if (it >= a.warmup) times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::printf("{\"method\": \"%s\", \"mode\": \"%s\", \"median_ms\": %.3f, \"setup_rss_mb\": %.1f, \"peak_rss_mb\": %.1f, \"parameters\": %lld}\n",
              a.one.c_str(), mode_label(balancer->mode()).c_str(), bench::median(times), setup_mb, train::peak_memory_mb(),
              static_cast<long long>(models::count_parameters(*model).total));
  return 0;
}

// Runs `measure_one` in a child process and parses its line.
Json run_child(const std::string& self, const Args& a, const std::string& method, const std::string& mode) {
  std::string cmd = fmt::format("'{}' --one {} --size {}x{} --batch {} --width {} --threads {} --iters {} --warmup {}", self, method,
                                a.height, a.width_px, a.batch, a.width, a.threads, a.iters, a.warmup);
  if (!mode.empty()) cmd += " --mode " + mode;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) fail("cannot start {}", cmd);
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  const int status = pclose(pipe);
  if (status != 0 || out.empty()) fail("{} failed (exit status {})", cmd, status);
  return Json::parse(out.substr(out.rfind('{')));
}

int measure_all(const std::string& self, const Args& a) {
  std::vector<std::string> methods = a.methods.empty() ? balancing::balancer_names() : split(a.methods, ',');
  struct Variant {
    std::string method, mode;
  };
  std::vector<Variant> variants;
  for (const auto& m : methods) {
    const balancing::BalancerEntry& entry = balancing::balancer_entry(m);  // an unknown name is an error here
    if (m == "fixed") continue;
    std::vector<std::string> modes = {""};
    for (const auto& o : entry.options)
      if (o.name == "mode") modes = o.choices;
    for (const auto& mode : modes) variants.push_back({m, mode});
  }
  std::fprintf(stderr, "%zu measurements (fixed first and last), %d+%d steps each\n", variants.size() + 2, a.warmup, a.iters);
  Json first = run_child(self, a, "fixed", "");
  std::vector<Json> rows;
  for (std::size_t i = 0; i < variants.size(); ++i) {
    std::fprintf(stderr, "[%zu/%zu] %s %s\n", i + 1, variants.size(), variants[i].method.c_str(), variants[i].mode.c_str());
    rows.push_back(run_child(self, a, variants[i].method, variants[i].mode));
  }
  Json last = run_child(self, a, "fixed", "");
  const double base_ms = (first["median_ms"].get<double>() + last["median_ms"].get<double>()) / 2;
  auto step_mb = [](const Json& r) { return r["peak_rss_mb"].get<double>() - r["setup_rss_mb"].get<double>(); };
  const double base_mb = (step_mb(first) + step_mb(last)) / 2;
  std::string md = fmt::format(
      "Multi-task ResNet-18 baseline (width {}, {} parameters), 4 tasks, {}x{}, batch {}, {} threads; median of {} steps after {} "
      "warm-up steps.\nFixed weights: {:.0f} ms and {:.0f} ms per step (first and last run), {:.0f} MB of peak memory above the "
      "set-up.\n\n| Method | Per-task gradients | Step (ms) | × fixed | Extra peak memory (MB) |\n|---|---|---:|---:|---:|\n",
      a.width, first["parameters"].get<long long>(), a.height, a.width_px, a.batch, a.threads, a.iters, a.warmup,
      first["median_ms"].get<double>(), last["median_ms"].get<double>(), base_mb);
  md += fmt::format("| fixed | none (losses only) | {:.0f} | 1.00 | 0 |\n", base_ms);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Json& r = rows[i];
    const std::string mode = r["mode"];
    const std::string option = variants[i].mode.empty() ? "" : " (mode: " + variants[i].mode + ")";
    md += fmt::format("| {}{} | {} | {:.0f} | {:.2f} | {:+.0f} |\n", r["method"].get<std::string>(), option,
                      mode == "params" ? "on the shared parameters" : mode == "rep" ? "on the shared representation" : "none (losses only)",
                      r["median_ms"].get<double>(), r["median_ms"].get<double>() / base_ms, step_mb(r) - base_mb);
  }
  std::printf("%s", md.c_str());
  if (!a.out.empty()) {
    std::ofstream f(a.out);
    f << md;
    if (!f) fail("cannot write {}", a.out);
  }
  return 0;
}

int run(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      std::printf("%s", kUsage);
      return 0;
    }
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail("missing value for {}", k);
      return argv[++i];
    };
    if (k == "--one") a.one = value();
    else if (k == "--mode") a.mode = value();
    else if (k == "--methods") a.methods = value();
    else if (k == "--out") a.out = value();
    else if (k == "--size") std::tie(a.height, a.width_px) = parse_size(value(), "--size");
    else if (k == "--batch") a.batch = std::stoi(value());
    else if (k == "--width") a.width = std::stod(value());
    else if (k == "--threads") a.threads = std::stoi(value());
    else if (k == "--iters") a.iters = std::stoi(value());
    else if (k == "--warmup") a.warmup = std::stoi(value());
    else {
      std::fprintf(stderr, "unknown argument %s\n%s", k.c_str(), kUsage);
      return 2;
    }
  }
  if (a.iters < 1 || a.warmup < 0 || a.batch < 1 || a.width <= 0) fail("--iters, --batch and --width must be positive");
  setup_torch(a.threads);
  return a.one.empty() ? measure_all(argv[0], a) : measure_one(a);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "densemtl_bench_balancers: %s\n", e.what());
    return 1;
  }
}
