#include "densemtl/dist/process_group.h"

#include <torch/torch.h>
#include <torch/version.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <atomic>
#include <cstdlib>
#include <thread>

#include "densemtl/core/error.h"
#include "densemtl/core/log.h"
#include "densemtl/core/progress.h"
#include "densemtl/core/strings.h"

namespace densemtl::dist {

namespace {

std::optional<std::string> variable(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

int env_int(const char* name, int lo, int hi) {
  std::string v = *variable(name);
  try {
    std::size_t used = 0;
    long x = std::stol(v, &used);
    if (used != v.size() || x < lo || x > hi) throw std::invalid_argument("range");
    return static_cast<int>(x);
  } catch (const std::exception&) {
    fail("environment variable {}='{}': expected an integer in [{}, {}]", name, v, lo, hi);
  }
}

std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  return line.size() > 300 ? line.substr(0, 300) + "..." : line;
}

// LibTorch 2 split the process group into a front and per-device backends; the collectives keep
// their signatures.
#if TORCH_VERSION_MAJOR >= 2
using GroupBase = c10d::Backend;
#else
using GroupBase = c10d::ProcessGroup;
#endif

const char* kFailed = "failed/";
const char* kHeartbeat = "heartbeat/";

}  // namespace

bool has_nccl() {
#ifdef USE_C10D_NCCL
  return true;
#else
  return false;
#endif
}

std::optional<LaunchEnv> launch_environment() {
  LaunchEnv e;
  if (variable("WORLD_SIZE")) {
    e.launcher = "torchrun";
    e.size = env_int("WORLD_SIZE", 1, 1 << 20);
    if (!variable("RANK")) fail("environment variable WORLD_SIZE is set but RANK is not (start the processes with torchrun or densemtl launch)");
    e.rank = env_int("RANK", 0, e.size - 1);
    e.local_rank = variable("LOCAL_RANK") ? env_int("LOCAL_RANK", 0, e.size - 1) : 0;
    e.local_size = variable("LOCAL_WORLD_SIZE") ? env_int("LOCAL_WORLD_SIZE", 1, e.size) : 1;
  } else if (variable("SLURM_NTASKS") && variable("SLURM_PROCID")) {
    e.launcher = "slurm";
    e.size = env_int("SLURM_NTASKS", 1, 1 << 20);
    e.rank = env_int("SLURM_PROCID", 0, e.size - 1);
    e.local_rank = variable("SLURM_LOCALID") ? env_int("SLURM_LOCALID", 0, e.size - 1) : 0;
    // SLURM_NTASKS_PER_NODE may read "2(x3)"; its leading number is the count on this node.
    if (auto per_node = variable("SLURM_NTASKS_PER_NODE")) e.local_size = std::max(1, std::atoi(per_node->c_str()));
  } else {
    return std::nullopt;
  }
  if (e.size == 1) return std::nullopt;
  auto addr = variable("MASTER_ADDR");
  if (!addr)
    fail("{} started {} processes, but MASTER_ADDR is not set (the host of rank 0, e.g. in a Slurm script: "
         "export MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1))", e.launcher, e.size);
  e.master_addr = *addr;
  if (variable("MASTER_PORT")) e.master_port = env_int("MASTER_PORT", 1, 65535);
  e.agent_store = variable("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
  if (variable("TORCHELASTIC_RESTART_COUNT")) e.restart = env_int("TORCHELASTIC_RESTART_COUNT", 0, 1 << 20);
  return e;
}

struct ProcessGroup::Impl {
  LaunchEnv env;
  GroupOptions options;
  std::string backend;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<GroupBase> group;  // the Gloo or NCCL process group
  std::thread heartbeat;
  std::atomic<bool> stopping{false};
  // After a failed operation the group's state is unknown (operations in flight may wait for
  // peers that are gone): the process leaves without tearing it down.
  mutable std::atomic<bool> broken{false};

  std::string endpoint() const { return fmt::format("{}:{}", env.master_addr, env.master_port); }

  // The rendezvous store (rank 0 hosts it, unless torchrun's agent does), under this run's prefix.
  // `join`: this process's own connection, counted in the rendezvous (the host waits for all of
  // them); the heartbeat and failure probes connect without.
  c10::intrusive_ptr<c10d::Store> connect(bool server, std::chrono::milliseconds timeout, bool join = true) const {
    c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(env.master_port);
    o.isServer = server && !env.agent_store;
    o.numWorkers = join ? c10::optional<std::size_t>(static_cast<std::size_t>(env.size)) : c10::nullopt;
    o.waitWorkers = join;
    o.timeout = timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
    return c10::make_intrusive<c10d::PrefixStore>("densemtl/attempt_" + std::to_string(env.restart), tcp);
  }

  // Every half second, this process's heartbeat counter goes up (its own store connection).
  void beat() {
    c10::intrusive_ptr<c10d::Store> own;
    try {
      own = connect(false, std::chrono::milliseconds(static_cast<std::int64_t>(options.timeout * 1000)), false);
    } catch (const std::exception&) {
      return;
    }
    const std::string key = kHeartbeat + std::to_string(env.rank);
    while (!stopping) {
      try {
        own->add(key, 1);
      } catch (const std::exception&) {
        return;  // the store went away: its host stopped; the next operation tells
      }
      for (int i = 0; i < 5 && !stopping; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  // Why an operation failed: a process that reported an error, processes whose heartbeat stopped,
  // or the rendezvous host gone.
  std::string diagnose() const {
    try {
      c10::intrusive_ptr<c10d::Store> probe = connect(false, std::chrono::milliseconds(3000), false);
      std::vector<std::string> reported;
      for (int r = 0; r < env.size; ++r) {
        if (r == env.rank) continue;
        std::string key = kFailed + std::to_string(r);
        if (probe->check({key})) {
          std::vector<std::uint8_t> v = probe->get(key);
          reported.push_back(fmt::format("rank {} failed: {}", r, std::string(v.begin(), v.end())));
        }
      }
      if (!reported.empty()) return join(reported, "; ");
      auto counters = [&] {
        std::vector<std::int64_t> c;
        for (int r = 0; r < env.size; ++r) c.push_back(probe->add(kHeartbeat + std::to_string(r), 0));
        return c;
      };
      std::vector<std::int64_t> before = counters();
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      std::vector<std::int64_t> after = counters();
      std::vector<std::string> silent;
      for (int r = 0; r < env.size; ++r)
        if (r != env.rank && after[static_cast<std::size_t>(r)] == before[static_cast<std::size_t>(r)]) silent.push_back(std::to_string(r));
      if (!silent.empty())
        return fmt::format("rank{} {} stopped responding (died or hung: no heartbeat)", silent.size() > 1 ? "s" : "", join(silent, ", "));
      return "every other rank is alive";
    } catch (const std::exception&) {
      return fmt::format("rank 0 stopped responding (the rendezvous it hosts at {} is gone: it died or hung)", endpoint());
    }
  }

  [[noreturn]] void failed(const std::string& what, const std::exception& e) const {
    broken = true;
    fail("rank {}: {} across {} processes failed: {}; {}", env.rank, what, env.size, first_line(e.what()), diagnose());
  }

  // NCCL works on GPU tensors only: host tensors travel through this process's GPU (LOCAL_RANK).
  bool staged(const at::Tensor& t) const { return backend == "nccl" && !t.is_cuda(); }
  at::Tensor stage(const at::Tensor& t) const {
    const auto gpus = std::max<int>(1, static_cast<int>(torch::cuda::device_count()));
    return t.to(torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank % gpus)));
  }
};

namespace {

class Waiting : public Collective::Pending {
 public:
  Waiting(const ProcessGroup::Impl& impl, c10::intrusive_ptr<c10d::Work> work, at::Tensor staged, at::Tensor target)
      : impl_(impl), work_(std::move(work)), staged_(std::move(staged)), target_(std::move(target)) {}
  void wait() override {
    try {
      work_->wait();
    } catch (const std::exception& e) {
      impl_.failed("a sum", e);
    }
    if (staged_.defined()) target_.copy_(staged_.cpu());
  }

 private:
  const ProcessGroup::Impl& impl_;
  c10::intrusive_ptr<c10d::Work> work_;
  at::Tensor staged_, target_;
};

}  // namespace

ProcessGroup::ProcessGroup(const LaunchEnv& env, const GroupOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.env = env;
  m.options = options;
  const std::chrono::milliseconds timeout(static_cast<std::int64_t>(options.timeout * 1000));
  if (options.backend == "nccl" || (options.backend == "auto" && options.device == "cuda" && has_nccl())) {
    if (!has_nccl()) fail("distributed.backend: nccl, but this LibTorch build has no NCCL (use gloo, or a CUDA build of LibTorch with NCCL)");
    m.backend = "nccl";
  } else {
    m.backend = "gloo";
  }
  try {
    m.store = m.connect(env.rank == 0, timeout);
  } catch (const std::exception& e) {
    fail("rank {}: the rendezvous at {} failed within {} s ({}); check MASTER_ADDR / MASTER_PORT and that all {} processes started",
         env.rank, m.endpoint(), options.timeout, first_line(e.what()), env.size);
  }
  try {
    if (m.backend == "gloo") {
      auto o = c10d::ProcessGroupGloo::Options::create(timeout);
      // The network interface: GLOO_SOCKET_IFNAME when set (as PyTorch reads it), loopback for a
      // one-machine rendezvous, else the address this host's name resolves to.
      if (auto interface = variable("GLOO_SOCKET_IFNAME")) o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(*interface));
      else if (env.master_addr == "127.0.0.1" || env.master_addr == "localhost")
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      o->threads = 1;
      m.group = c10::make_intrusive<c10d::ProcessGroupGloo>(m.store, env.rank, env.size, o);
    } else {
#ifdef USE_C10D_NCCL
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = timeout;
      m.group = c10::make_intrusive<c10d::ProcessGroupNCCL>(m.store, env.rank, env.size, o);
#endif
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail("rank {}: joining the {} process group of {} processes failed: {}", env.rank, m.backend, env.size, first_line(e.what()));
  }
  m.heartbeat = std::thread([&m] { m.beat(); });
  set_world(this);
}

ProcessGroup::~ProcessGroup() {
  if (world() == this) set_world(nullptr);
  impl_->stopping = true;
  if (impl_->broken) {
    // Tearing down Gloo would wait for operations whose peers are gone (up to the timeout): the
    // process is about to exit with the error, so the group is left as it is (the heartbeat
    // thread stops on its own).
    impl_->heartbeat.detach();
    (void)impl_.release();
    return;
  }
  if (impl_->heartbeat.joinable()) impl_->heartbeat.join();
}

int ProcessGroup::rank() const { return impl_->env.rank; }
int ProcessGroup::size() const { return impl_->env.size; }
std::string ProcessGroup::backend() const { return impl_->backend; }
const LaunchEnv& ProcessGroup::launch() const { return impl_->env; }

std::string ProcessGroup::device_for(const std::string& device) const {
  if (device != "cuda") return device;
  return fmt::format("cuda:{}", impl_->env.local_rank % std::max<int>(1, static_cast<int>(torch::cuda::device_count())));
}

std::unique_ptr<ProcessGroup> join_launch(const GroupOptions& options) {
  auto env = launch_environment();
  if (!env) return nullptr;
  auto group = std::make_unique<ProcessGroup>(*env, options);
  if (env->rank != 0) {
    ProgressBar::set_enabled(false);
    spdlog::set_level(spdlog::level::warn);
  }
  log_info("{} processes ({}, {} backend), this is rank {}", env->size, env->launcher, group->backend(), env->rank);
  return group;
}

std::unique_ptr<Collective::Pending> ProcessGroup::start_all_reduce_sum(at::Tensor tensor) {
  Impl& m = *impl_;
  at::Tensor staged = m.staged(tensor) ? m.stage(tensor) : at::Tensor();
  std::vector<at::Tensor> io{staged.defined() ? staged : tensor};
  try {
    return std::make_unique<Waiting>(m, m.group->allreduce(io), staged, tensor);
  } catch (const std::exception& e) {
    m.failed("a sum", e);
  }
}

std::vector<at::Tensor> ProcessGroup::all_gather(const at::Tensor& tensor) {
  Impl& m = *impl_;
  at::Tensor in = m.staged(tensor) ? m.stage(tensor).contiguous() : tensor.contiguous();
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < m.env.size; ++r) out[0].push_back(torch::empty_like(in));
  std::vector<at::Tensor> inputs{in};
  try {
    m.group->allgather(out, inputs)->wait();
  } catch (const std::exception& e) {
    m.failed("a gather", e);
  }
  if (m.staged(tensor))
    for (auto& t : out[0]) t = t.cpu();
  return out[0];
}

void ProcessGroup::broadcast(at::Tensor& tensor, int root) {
  Impl& m = *impl_;
  at::Tensor staged = m.staged(tensor) ? m.stage(tensor) : at::Tensor();
  std::vector<at::Tensor> io{staged.defined() ? staged : tensor};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  try {
    m.group->broadcast(io, o)->wait();
  } catch (const std::exception& e) {
    m.failed("a broadcast", e);
  }
  if (staged.defined()) tensor.copy_(staged.cpu());
}

void ProcessGroup::barrier() {
  Impl& m = *impl_;
  try {
    m.group->barrier()->wait();
  } catch (const std::exception& e) {
    m.failed("a barrier", e);
  }
}

void ProcessGroup::report_failure(const std::string& message) noexcept {
  impl_->broken = true;
  try {
    std::string line = first_line(message);
    impl_->store->set(kFailed + std::to_string(impl_->env.rank), std::vector<std::uint8_t>(line.begin(), line.end()));
  } catch (...) {
  }
}

}  // namespace densemtl::dist
