// Multi-process runs on LibTorch's c10d: the launcher's environment (torchrun, Slurm, or
// `densemtl launch`), the TCPStore rendezvous, and a process group (Gloo on CPUs; NCCL where the
// LibTorch build has it and the device is a GPU) behind the Collective interface of
// core/collective.h. Every operation waits at most the configured timeout; a failure names the
// process at fault (one that reported an error, or one that stopped sending heartbeats).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "densemtl/core/collective.h"

namespace densemtl::dist {

// Where this process stands in a multi-process launch.
struct LaunchEnv {
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
  std::string master_addr;  // the rendezvous host (rank 0's)
  int master_port = 29500;
  std::string launcher;     // "torchrun" (also `densemtl launch`), "slurm"
  // torchrun's agent hosts the store at MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE): every
  // process joins it as a client; keys are kept apart per restart (TORCHELASTIC_RESTART_COUNT).
  bool agent_store = false;
  int restart = 0;
};

// The launch this process is part of, from torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) or Slurm's (SLURM_PROCID, SLURM_NTASKS,
// SLURM_LOCALID, SLURM_NTASKS_PER_NODE, with MASTER_ADDR / MASTER_PORT set by the job script);
// nothing when neither names more than one process. Inconsistent values are an error naming the
// variable.
std::optional<LaunchEnv> launch_environment();

struct GroupOptions {
  std::string backend = "auto";  // auto | gloo | nccl (distributed.backend)
  std::string device = "cpu";    // the run's device (auto: nccl on cuda when built with it)
  double timeout = 300;          // seconds (distributed.timeout)
};

// A process group: joins the rendezvous (waiting up to the timeout for every process) and is
// installed as world() for its lifetime.
class ProcessGroup : public Collective {
 public:
  ProcessGroup(const LaunchEnv& env, const GroupOptions& options);
  ~ProcessGroup() override;
  int rank() const override;
  int size() const override;
  std::unique_ptr<Pending> start_all_reduce_sum(at::Tensor tensor) override;
  std::vector<at::Tensor> all_gather(const at::Tensor& tensor) override;
  void broadcast(at::Tensor& tensor, int root = 0) override;
  void barrier() override;
  // Records that this process fails with `message`, for the others' error messages.
  void report_failure(const std::string& message) noexcept;
  // The backend in use ("gloo" or "nccl").
  std::string backend() const;
  // This process's place in the launch.
  const LaunchEnv& launch() const;
  // The device this process works on: "cuda" becomes its own GPU (LOCAL_RANK modulo the GPUs),
  // any other as it is.
  std::string device_for(const std::string& device) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Joins the launch this process is part of (null when there is none), with one voice: only rank 0
// logs information and draws progress bars.
std::unique_ptr<ProcessGroup> join_launch(const GroupOptions& options);

// Whether this LibTorch build has the NCCL backend.
bool has_nccl();

}  // namespace densemtl::dist
