// densemtl launch: starts N local processes of one densemtl command (usually train) as a
// multi-process run, for users without torchrun or Slurm: each gets torchrun's environment
// (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT). When one
// process fails, the others get a grace period (--grace) to stop by themselves (a dead peer ends
// their next operation at once, naming it; a hung one after distributed.timeout), then are
// terminated; the exit status is the first failure's. SIGINT and SIGTERM are passed on to them.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <thread>

#include "densemtl/cli/common.h"
#include "densemtl/core/error.h"
#include "densemtl/core/log.h"
#include "densemtl/core/process.h"

namespace densemtl::cli {

namespace {

// The children, for the signal handler.
std::vector<pid_t> g_children;

void pass_on(int signal) {
  for (pid_t pid : g_children)
    if (pid > 0) ::kill(pid, signal);
  ::signal(signal, SIG_DFL);
  ::raise(signal);
}

struct LaunchOptions {
  int nproc = 2;
  int port = 0;
  double grace = 60;
  std::vector<std::string> command;
};

// Whether `port` on 127.0.0.1 can be bound now (the rendezvous host binds it).
bool port_free(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return true;  // cannot tell; the rendezvous will say
  int yes = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) fail("launch: cannot open a socket to find a free port: {}", std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    fail("launch: cannot find a free port: {}; pass --port", std::strerror(errno));
  }
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// Stops and reaps the children started so far (process creation failed part-way).
void stop_started(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) ::kill(pid, SIGTERM);
  for (pid_t pid : pids) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

int launch(const LaunchOptions& o) {
  if (o.command.empty()) throw UsageError("no command to launch: densemtl launch --nproc N -- train --config FILE ...");
  // Only these run as one job of several processes; anything else would run N times over.
  if (o.command.front() != "train" && o.command.front() != "evaluate")
    throw UsageError(fmt::format("'{}' does not run as several processes; launch runs train or evaluate", o.command.front()));
  if (o.port > 0 && !port_free(o.port)) fail("launch: port {} on 127.0.0.1 is in use; pass another --port, or none to pick a free one", o.port);
  const int port = o.port > 0 ? o.port : free_port();
  // The children run this same program with the same verbosity.
  std::vector<std::string> args{"/proc/self/exe"};
  if (spdlog::get_level() >= spdlog::level::warn) args.push_back("-q");
  else if (spdlog::get_level() <= spdlog::level::debug) args.push_back("-v");
  args.insert(args.end(), o.command.begin(), o.command.end());
  log_info("launching {} processes on 127.0.0.1:{}: densemtl {}", o.nproc, port, fmt::join(o.command, " "));
  std::vector<pid_t> pids;
  for (int r = 0; r < o.nproc; ++r) {
    pid_t pid = ::fork();
    if (pid < 0) {
      const int error = errno;
      stop_started(pids);
      fail("launch: cannot start process {} of {}: {} (the {} started were stopped)", r, o.nproc, std::strerror(error), pids.size());
    }
    if (pid == 0) {
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      std::fprintf(stderr, "densemtl launch: cannot start rank %d: %s\n", r, std::strerror(errno));
      std::_Exit(127);
    }
    pids.push_back(pid);
  }
  g_children = pids;
  ::signal(SIGINT, pass_on);
  ::signal(SIGTERM, pass_on);
  int exit_code = 0;
  int running = o.nproc;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  bool terminated = false;
  while (running > 0) {
    int status = 0;
    pid_t done = ::waitpid(-1, &status, deadline ? WNOHANG : 0);
    if (done < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (done == 0) {
      // Waiting out the grace period after a failure.
      auto now = std::chrono::steady_clock::now();
      if (!terminated && now > *deadline) {
        log_warn("launch: the other processes did not stop within {:g} s of the failure; terminating them", o.grace);
        for (std::size_t r = 0; r < pids.size(); ++r)
          if (pids[r] > 0) ::kill(pids[r], SIGTERM);
        terminated = true;
        deadline = now + std::chrono::seconds(5);
      } else if (terminated && now > *deadline) {
        for (std::size_t r = 0; r < pids.size(); ++r)
          if (pids[r] > 0) ::kill(pids[r], SIGKILL);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    int rank = -1;
    for (std::size_t r = 0; r < pids.size(); ++r)
      if (pids[r] == done) {
        rank = static_cast<int>(r);
        pids[r] = -1;
        g_children[r] = -1;
      }
    if (rank < 0) continue;
    --running;
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok) {
      std::fprintf(stderr, "densemtl launch: rank %d %s\n", rank, describe_exit_status(status).c_str());
      if (exit_code == 0) {
        exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
        deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(o.grace * 1000));
      }
    }
  }
  return exit_code;
}

}  // namespace

Subcommand add_launch(CLI::App& root) {
  auto o = std::make_shared<LaunchOptions>();
  CLI::App* app = root.add_subcommand("launch", "Run a densemtl command (train) as N local processes (data-parallel training on one machine)");
  app->add_option("--nproc", o->nproc, "Number of processes")->check(CLI::Range(1, 1024));
  app->add_option("--port", o->port, "Rendezvous port on 127.0.0.1 (default: a free one)")->check(CLI::Range(1, 65535));
  app->add_option("--grace", o->grace, "Seconds the others may take to stop after one process failed, before they are terminated")
      ->check(CLI::Range(0.0, 86400.0));
  app->add_option("command", o->command, "The command after --, e.g. -- train --config FILE")->required();
  app->footer("Example: densemtl launch --nproc 2 -- train --config configs/synthetic/baseline.yaml --out runs/two\n"
              "On a cluster use torchrun or srun instead (README: several machines).");
  return {app, [o] { return launch(*o); }};
}

}  // namespace densemtl::cli
