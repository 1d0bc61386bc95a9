// torch
// Multi-process training on c10d (Gloo, 127.0.0.1): 2 processes x half the batch give the weights
// of 1 process on the whole batch (loss-level, learned-weight and gradient balancers, both
// gradient modes), sharded evaluation gives exactly the one-process metrics, a resumed
// multi-process run equals an uninterrupted one, and a rank that dies or hangs makes the other
// stop within the timeout, naming it.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <torch/torch.h>

#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include "densemtl/core/json.h"
#include "densemtl/data/synthetic/generator.h"
#include "densemtl/dist/process_group.h"
#include "densemtl/models/layers.h"
#include "densemtl/models/sync_batch_norm.h"
#include "densemtl/train/trainer.h"
#include "model_util.h"
#include "test_util.h"

extern char** environ;

namespace densemtl::train {

namespace {

fs::path scenes(const fs::path& dir) {
  synthetic::GenerateOptions o;
  o.out = dir / "scenes";
  o.height = 32;
  o.width = 40;
  o.train = 8;
  o.val = 2;
  o.test = 3;
  o.seed = 11;
  o.threads = 2;
  synthetic::generate(o);
  return o.out;
}

// Semantic segmentation (cross-entropy with ignored pixels), depth (masked L1: invalid pixels
// differ between the halves of a batch) and saliency (the balanced BCE's weight is a statistic of
// the whole batch); batch norms synchronised; SGD at a small rate, so that the runs' differences stay
// at rounding.
fs::path config(const fs::path& dir, const fs::path& data, int epochs = 2, const std::string& extra = "") {
  fs::path file = dir / "exp.yaml";
  std::ofstream(file) << "data:\n  dataset: synthetic\n  root: " << data.string() << "\n  val_split: val\n  input_size: [32, 40]\n"
                      << "  workers: 1\n  augment:\n    flip: true\n    scales: [1.0, 1.25]\n"
                      << "tasks:\n  main: [semseg, sal, depth]\n"
                      << "model:\n  architecture: baseline\n  head: deeplab\n  width: 0.125\n"
                      << "backbone:\n  name: resnet18\n"
                      << "optimizer:\n  name: sgd\n  lr: 0.002\n  momentum: 0.9\n"
                      << "train:\n  epochs: " << epochs << "\n  batch_size: 4\n  sync_bn: true\n"
                      << "eval:\n  batch_size: 1\n"
                      << "threads: 1\n" << extra;
  return file;
}

// Largest |a - b| relative to the tensor's scale, over every parameter and buffer.
double largest_difference(const fs::path& a, const fs::path& b, std::string* where = nullptr) {
  auto x = test::checkpoint_model(a), y = test::checkpoint_model(b);
  EXPECT_EQ(x.size(), y.size());
  EXPECT_FALSE(x.empty());
  double worst = 0;
  for (const auto& [name, t] : x) {
    if (!y.count(name)) {
      ADD_FAILURE() << name << " missing";
      continue;
    }
    at::Tensor u = t.to(torch::kFloat64), v = y.at(name).to(torch::kFloat64);
    double d = (u - v).abs().max().item<double>() / (1.0 + u.abs().max().item<double>());
    if (d > worst) {
      worst = d;
      if (where) *where = name;
    }
  }
  return worst;
}

using test::spawn;
using test::wait_for;

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::size_t log_lines(const fs::path& file) {
  std::ifstream in(file);
  std::size_t n = 0;
  std::string line;
  while (std::getline(in, line)) n += !line.empty();
  return n;
}

// A group of `size` processes in one: every process holds the same values, so a sum over the
// processes is `size` times the value, and a gather `size` copies.
class Replicas : public Collective {
 public:
  explicit Replicas(int size) : size_(size) {}
  int rank() const override { return 0; }
  int size() const override { return size_; }
  std::unique_ptr<Pending> start_all_reduce_sum(at::Tensor tensor) override {
    tensor.mul_(size_);
    struct Done : Pending {
      void wait() override {}
    };
    return std::make_unique<Done>();
  }
  std::vector<at::Tensor> all_gather(const at::Tensor& tensor) override { return std::vector<at::Tensor>(static_cast<std::size_t>(size_), tensor.clone()); }
  void broadcast(at::Tensor&, int) override {}
  void barrier() override {}

 private:
  int size_;
};

}  // namespace

TEST(Distributed, SynchronisedBatchNormIsBatchNormOverTheGlobalBatch) {
  // Two processes holding the same half batch x: the global batch is [x, x]. Values, running
  // statistics and gradients must be those of plain batch norm on [x, x].
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({3, 5, 4, 6}) * 2 + 1, w = torch::randn({3, 5, 4, 6});
  models::BatchNorm2d plain(5), synced(5);
  {
    torch::NoGradGuard g;
    plain->weight.uniform_(0.5, 1.5);
    plain->bias.uniform_(-1, 1);
    synced->weight.copy_(plain->weight);
    synced->bias.copy_(plain->bias);
  }
  torch::Tensor both = torch::cat({x, x}).requires_grad_();
  torch::Tensor reference = plain->forward(both);
  (reference * torch::cat({w, w})).sum().backward();
  torch::Tensor mine = x.clone().requires_grad_();
  Replicas two(2);
  set_world(&two);
  models::set_sync_batch_norm(true);
  torch::Tensor y = synced->forward(mine);
  (y * w).sum().backward();  // this process's loss
  models::set_sync_batch_norm(false);
  set_world(nullptr);
  EXPECT_TRUE(torch::allclose(y, reference.slice(0, 0, 3), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(synced->running_mean, plain->running_mean, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(synced->running_var, plain->running_var, 1e-5, 1e-5));  // unbiased over 144 values
  // The input's gradient is that of the processes' summed loss (through the statistics, each
  // process's loss reaches every input); the weight's is this process's part of it.
  EXPECT_TRUE(torch::allclose(mine.grad(), both.grad().slice(0, 0, 3), 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(2 * synced->weight.grad(), plain->weight.grad(), 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(2 * synced->bias.grad(), plain->bias.grad(), 1e-4, 1e-5));
}

TEST(Distributed, TheLaunchersEnvironmentIsReadAndItsErrorsNameTheVariable) {
  const std::vector<std::string> names = {"WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                                          "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE",
                                          "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT"};
  std::map<std::string, std::string> saved;
  for (const auto& n : names)
    if (const char* v = std::getenv(n.c_str())) saved[n] = v;
  auto clear = [&] {
    for (const auto& n : names) ::unsetenv(n.c_str());
  };
  auto set = [](std::map<std::string, std::string> values) {
    for (const auto& [k, v] : values) ::setenv(k.c_str(), v.c_str(), 1);
  };
  clear();
  EXPECT_FALSE(dist::launch_environment());  // one process
  set({{"WORLD_SIZE", "1"}, {"RANK", "0"}});
  EXPECT_FALSE(dist::launch_environment());
  clear();
  set({{"WORLD_SIZE", "4"}, {"RANK", "2"}, {"LOCAL_RANK", "0"}, {"LOCAL_WORLD_SIZE", "2"}, {"MASTER_ADDR", "node0"},
       {"MASTER_PORT", "1234"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"}, {"TORCHELASTIC_RESTART_COUNT", "3"}});
  auto e = dist::launch_environment();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->launcher, "torchrun");
  EXPECT_EQ(e->rank, 2);
  EXPECT_EQ(e->size, 4);
  EXPECT_EQ(e->local_size, 2);
  EXPECT_EQ(e->master_addr, "node0");
  EXPECT_EQ(e->master_port, 1234);
  EXPECT_TRUE(e->agent_store);
  EXPECT_EQ(e->restart, 3);
  set({{"RANK", "4"}});
  test::expect_error([] { dist::launch_environment(); }, {"RANK='4'", "[0, 3]"});
  clear();
  set({{"SLURM_NTASKS", "8"}, {"SLURM_PROCID", "5"}, {"SLURM_LOCALID", "1"}, {"SLURM_NTASKS_PER_NODE", "4(x2)"}});
  test::expect_error([] { dist::launch_environment(); }, {"slurm started 8 processes", "MASTER_ADDR"});
  set({{"MASTER_ADDR", "10.0.0.1"}});
  e = dist::launch_environment();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->launcher, "slurm");
  EXPECT_EQ(e->rank, 5);
  EXPECT_EQ(e->local_rank, 1);
  EXPECT_EQ(e->local_size, 4);
  EXPECT_EQ(e->master_port, 29500);
  clear();
  set(saved);
}

TEST(Distributed, TwoProcessesTrainAsOneProcessOnTheGlobalBatch) {
  test::TempDir dir;
  const fs::path data = scenes(dir.path());
  const fs::path cfg = config(dir.path(), data);
  // Fixed weights; uncertainty weighting (learned, loss level); PCGrad (gradient matrix on the
  // shared parameters, summed over the processes); MGDA-UB (on the shared representation, whose
  // columns are gathered: its Gram matrix is the whole batch's). Four SGD steps with momentum;
  // dropout draws the whole batch's mask on every process. (GradDrop also runs on the gathered
  // representation with the same draws, but its mask thresholds them, so a rounding difference
  // can flip an element: it is not compared here.)
  for (const std::string balancer : {"fixed", "uw", "pcgrad", "mgda"}) {
    SCOPED_TRACE(balancer);
    TrainOptions one;
    one.config = cfg;
    one.overrides = {"balancer.name=" + balancer};
    one.out = dir.path() / ("one_" + balancer);
    one.evaluate_test = false;
    train(one);
    const fs::path two = dir.path() / ("two_" + balancer);
    auto r = test::run_densemtl("launch --nproc 2 -- train --config " + cfg.string() + " --set balancer.name=" + balancer +
                                " --out " + two.string());
    ASSERT_EQ(r.status, 0) << r.output;
    std::string where;
    const double d = largest_difference(one.out / "checkpoint.pt", two / "checkpoint.pt", &where);
    EXPECT_LT(d, 2e-6) << "largest difference at " << where;  // measured: 2e-7 to 4e-7
    // The logged losses are the global batch's.
    Json a = Json::parse(read_text(one.out / "log.jsonl").substr(0, read_text(one.out / "log.jsonl").find('\n')));
    Json b = Json::parse(read_text(two / "log.jsonl").substr(0, read_text(two / "log.jsonl").find('\n')));
    for (const auto& [task, v] : a["train_loss"].items()) EXPECT_NEAR(v.get<double>(), b["train_loss"][task].get<double>(), 1e-5) << task;
    EXPECT_TRUE(b.contains("gradient_wait_seconds"));
    Json summary = read_json(two / "run.json");
    EXPECT_EQ(summary["processes"], 2);
  }
}

TEST(Distributed, ShardedEvaluationGivesExactlyTheOneProcessMetrics) {
  test::TempDir dir;
  const fs::path data = scenes(dir.path());
  const fs::path cfg = config(dir.path(), data, 1);
  const fs::path run = dir.path() / "run";
  // Trained by 2 processes, which score the test split sharded at the end (metrics.json).
  auto trained = test::run_densemtl("launch --nproc 2 -- train --config " + cfg.string() + " --out " + run.string());
  ASSERT_EQ(trained.status, 0) << trained.output;
  // 3 test images, batches of 1: rank 0 scores two, rank 1 one; the accumulators are pooled.
  const fs::path a = dir.path() / "one.json", b = dir.path() / "two.json";
  auto r1 = test::run_densemtl("evaluate --run " + run.string() + " --json " + a.string());
  ASSERT_EQ(r1.status, 0) << r1.output;
  auto r2 = test::run_densemtl("launch --nproc 2 -- evaluate --run " + run.string() + " --json " + b.string());
  ASSERT_EQ(r2.status, 0) << r2.output;
  Json one = read_json(a), two = read_json(b);
  EXPECT_EQ(one, two);
  EXPECT_EQ(two["semseg"]["images"], 3);
  EXPECT_EQ(read_json(run / "metrics.json"), one);
}

TEST(Distributed, AResumedTwoProcessRunEqualsAnUninterruptedOne) {
  test::TempDir dir;
  const fs::path data = scenes(dir.path());
  const fs::path cfg = config(dir.path(), data, 3, "balancer:\n  name: uw\n");
  const std::string base = "launch --nproc 2 -- train --config " + cfg.string() + " --out ";
  auto whole = test::run_densemtl(base + (dir.path() / "whole").string());
  ASSERT_EQ(whole.status, 0) << whole.output;
  auto first = test::run_densemtl(base + (dir.path() / "parts").string() + " --stop-after 1");
  ASSERT_EQ(first.status, 0) << first.output;
  EXPECT_EQ(log_lines(dir.path() / "parts" / "log.jsonl"), 1u);
  auto rest = test::run_densemtl(base + (dir.path() / "parts").string() + " --resume");
  ASSERT_EQ(rest.status, 0) << rest.output;
  EXPECT_EQ(largest_difference(dir.path() / "whole" / "checkpoint.pt", dir.path() / "parts" / "checkpoint.pt"), 0.0);
}

TEST(Distributed, ARankThatDiesOrHangsStopsTheOtherWithinTheTimeoutNamingIt) {
  test::TempDir dir;
  const fs::path data = scenes(dir.path());
  const fs::path cfg = config(dir.path(), data, 500, "distributed:\n  timeout: 8\n");
  for (const int signal : {SIGKILL, SIGSTOP}) {
    SCOPED_TRACE(signal == SIGKILL ? "killed" : "stopped");
    const fs::path out = dir.path() / (signal == SIGKILL ? "killed" : "stopped");
    const std::string port = std::to_string(29600 + (::getpid() % 2000) + (signal == SIGKILL ? 0 : 1));
    std::vector<pid_t> pids;
    for (int r = 0; r < 2; ++r)
      pids.push_back(spawn({"train", "--config", cfg.string(), "--out", out.string()},
                           {{"RANK", std::to_string(r)}, {"WORLD_SIZE", "2"}, {"LOCAL_WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"},
                            {"MASTER_PORT", port}},
                           dir.path() / ("rank" + std::to_string(r) + ".log")));
    // Mid-training: after the first epoch's log line.
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (log_lines(out / "log.jsonl") < 1 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_GE(log_lines(out / "log.jsonl"), 1u) << read_text(dir.path() / "rank0.log");
    ::kill(pids[1], signal);
    auto start = std::chrono::steady_clock::now();
    const int status = wait_for(pids[0], 8 + 20);
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (status < 0) ::kill(pids[0], SIGKILL);
    ::kill(pids[1], SIGKILL);
    wait_for(pids[1], 10);
    if (status < 0) wait_for(pids[0], 10);
    EXPECT_GT(status, 0) << "rank 0 did not stop within " << took << " s";
    const std::string log = read_text(dir.path() / "rank0.log");
    EXPECT_NE(log.find("rank 1"), std::string::npos) << log;
    EXPECT_NE(log.find("stopped responding"), std::string::npos) << log;
  }
}

}  // namespace densemtl::train
