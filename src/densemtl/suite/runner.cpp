#include "densemtl/suite/runner.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <map>

#include "densemtl/core/error.h"
#include "densemtl/core/json.h"
#include "densemtl/core/log.h"
#include "densemtl/core/parallel.h"
#include "densemtl/core/process.h"
#include "densemtl/core/strings.h"

namespace densemtl::suite {

bool cell_finished(const fs::path& out, const std::string& cell) {
  return fs::exists(Benchmark::run_dir(out, cell) / "run.json");
}

// ---- cells ----

namespace {

volatile std::sig_atomic_t g_child = 0;
volatile std::sig_atomic_t g_stop = 0;  // the signal that stops the benchmark, 0 when none

// SIGINT/SIGTERM stop the benchmark: the child gets the signal (it checkpoints nothing half-way:
// its writes are atomic), and this process re-raises it once the child is gone.
void pass_on(int signal) {
  g_stop = signal;
  if (g_child > 0) ::kill(static_cast<pid_t>(g_child), signal);
}

// Runs `args` as a child that dies with this process; returns "" or why it failed (with the
// child's last error line: its stderr passes through here on its way to ours).
std::string run_child(const std::vector<std::string>& args, int threads) {
  int err[2];
  if (::pipe2(err, O_CLOEXEC) != 0) fail("benchmark: cannot create a pipe ({})", std::strerror(errno));
  const pid_t parent = ::getpid();
  const bool terminal = ::isatty(2) != 0;
  pid_t pid = ::fork();
  if (pid < 0) fail("benchmark: cannot start a training process ({})", std::strerror(errno));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a killed benchmark leaves no orphan training its cell
    if (::getppid() != parent) std::_Exit(1);
    ::dup2(err[1], 2);
    if (terminal) ::setenv("DENSEMTL_STDERR_TTY", "1", 1);  // progress bars drawn as on a terminal
    ::setenv("DENSEMTL_THREADS", std::to_string(threads).c_str(), 1);  // its share of this machine's cores
    std::vector<char*> argv;
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    std::fprintf(stderr, "densemtl benchmark: cannot start %s: %s\n", argv[0], std::strerror(errno));
    std::_Exit(127);
  }
  ::close(err[1]);
  g_child = pid;
  auto old_int = std::signal(SIGINT, pass_on), old_term = std::signal(SIGTERM, pass_on);
  std::string tail;  // the last few KB of the child's stderr
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(err[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (::write(2, buf, static_cast<std::size_t>(n)) < 0) {
      // Our stderr is gone; keep reading so that the child is not blocked.
    }
    tail.append(buf, static_cast<std::size_t>(n));
    if (tail.size() > 16384) tail.erase(0, tail.size() - 8192);
  }
  ::close(err[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  g_child = 0;
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);
  if (g_stop) {
    std::signal(g_stop, SIG_DFL);
    ::raise(g_stop);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  std::string said;
  for (const auto& line : split(tail, '\n'))
    if (line.find("error") != std::string::npos) said = trim(line);
  return "densemtl train " + describe_exit_status(status) + (said.empty() ? "" : " (" + said + ")");
}

}  // namespace

void check_manifest(const Benchmark& b, const fs::path& out, bool create) {
  Json m;
  m["name"] = b.name;
  m["protocol_file"] = b.protocol_file.string();
  m["grid_file"] = b.grid_file.string();
  m["protocol"] = b.protocol_text;
  m["grid"] = b.grid_text;
  m["sets"] = b.sets;
  std::vector<std::string> cells;
  for (const auto& c : b.cells) cells.push_back(c.name);
  m["cells"] = cells;
  const fs::path file = out / "benchmark.json";
  if (!fs::exists(file) && !create) fail("{}: no benchmark here yet (benchmark.json is missing)", out.string());
  if (!fs::exists(file)) {
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    const fs::path tmp = out / fmt::format(".benchmark.json.{}.{}", host, ::getpid());
    write_json(tmp, m);
    const bool created = ::link(tmp.c_str(), file.c_str()) == 0;  // create-if-absent, atomically
    const int err = errno;
    std::error_code ec;
    fs::remove(tmp, ec);
    if (created) return;
    if (err != EEXIST) fail("{}: cannot create ({})", file.string(), std::strerror(err));
  }
  Json old = read_json(file);
  for (const char* key : {"protocol", "grid"})
    if (!old.contains(key) || old[key] != m[key])
      fail("{}: this folder holds the benchmark of another {} ({} differs from the one it was started with); use another --out",
           out.string(), key, std::string(key) == "protocol" ? b.protocol_file.string() : b.grid_file.string());
  if (!old.contains("sets") || old["sets"] != Json(b.sets))
    fail("{}: this folder's benchmark was started with other --set values ({}); give the same ones or use another --out",
         out.string(), old.contains("sets") ? old["sets"].dump() : "none");
}

namespace {

struct Runner {
  const Benchmark& b;
  const RunOptions& o;
  RunSummary summary;
  std::map<std::string, std::string> failed;  // cell -> why, this run
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  int owned = 0, visited = 0;

  fs::path dir(const std::string& c) const { return Benchmark::cell_dir(o.out, c); }

  // The cores of this machine shared by the cells being trained on it now (other shards of this
  // benchmark included: their locks name this host), so that shards do not oversubscribe them.
  int threads_for_a_cell() const {
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    const std::string here = fmt::format(" on {} since", host);
    int others = 0;
    for (const auto& c : b.cells) {
      const fs::path lock = dir(c.name) / "lock";
      if (FileLock::held_elsewhere(lock) && FileLock::holder(lock).find(here) != std::string::npos) ++others;
    }
    return std::max(1, default_threads() / (others + 1));
  }

  bool interrupted(const std::string& c) const {
    return !cell_finished(o.out, c) && fs::exists(Benchmark::run_dir(o.out, c) / "checkpoint.pt");
  }

  // Trains `c` under its lock (already held). Returns "" or why it failed.
  std::string train(const Cell& c) {
    for (const auto& need : c.needs) {
      std::string why = ensure(b.cell(need), true);
      if (!why.empty()) return "needs " + need + ", which failed: " + why;
    }
    const fs::path d = dir(c.name), run = Benchmark::run_dir(o.out, c.name);
    const bool resume = fs::exists(run / "checkpoint.pt");
    if (resume && !o.resume) return fmt::format("interrupted earlier ({}); pass --resume to continue it", run.string());
    write_file_atomic(d / "config.yaml", c.config);
    std::error_code ec;
    fs::remove(d / "failed.txt", ec);
    std::vector<std::string> args{o.executable.string()};
    args.insert(args.end(), o.flags.begin(), o.flags.end());
    for (const char* a : {"train", "--config"}) args.emplace_back(a);
    args.push_back((d / "config.yaml").string());
    args.emplace_back("--out");
    args.push_back(run.string());
    if (resume) args.emplace_back("--resume");
    log_info("benchmark: {} {} ({}){}", resume ? "continuing" : "training", c.name, progress(), resume ? " from its checkpoint" : "");
    std::string why = run_child(args, threads_for_a_cell());
    if (why.empty() && !cell_finished(o.out, c.name)) why = "densemtl train stopped before the run was complete";
    if (!why.empty()) write_file_atomic(d / "failed.txt", why + "\n");
    return why;
  }

  // The cell finished, by this process or another; "" or why not. `wait`: block while another
  // process holds it (a dependency), else leave it to that process.
  std::string ensure(const Cell& c, bool wait) {
    if (cell_finished(o.out, c.name)) return "";
    if (failed.count(c.name)) return failed[c.name];
    const fs::path lock_file = dir(c.name) / "lock";
    FileLock lock = FileLock::try_lock(lock_file);
    if (!lock.held() && !wait) {
      log_info("benchmark: {} is being trained by {}; left to it", c.name, FileLock::holder(lock_file));
      summary.elsewhere.push_back(c.name);
      return "";
    }
    if (!lock.held()) log_info("benchmark: waiting for {} (trained by {})", c.name, FileLock::holder(lock_file));
    FileLock waited = lock.held() ? std::move(lock) : FileLock::wait(lock_file);
    if (cell_finished(o.out, c.name)) return "";
    std::string why = train(c);
    if (why.empty()) ++summary.trained;
    else failed[c.name] = why;
    return why;
  }

  std::string progress() const {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string s = fmt::format("cell {} of {} in shard {}/{}", visited, owned, o.shard + 1, o.shards);
    if (summary.trained > 0) {
      const double per = seconds / summary.trained;
      s += fmt::format(", {} trained in {}, about {} left", summary.trained, format_duration(seconds),
                       format_duration(per * std::max(0, owned - visited + 1)));
    }
    return s;
  }
};

}  // namespace

RunSummary run_cells(const Benchmark& b, const RunOptions& o) {
  if (o.shards < 1 || o.shard < 0 || o.shard >= o.shards) fail("--shard {}/{}: expected I/N with 1 <= I <= N", o.shard + 1, o.shards);
  // A missing dataset would fail every cell: say so once, before anything trains.
  for (const auto& c : b.cells)
    if (!fs::exists(c.data_root))
      fail("{}: data.root {} does not exist (cell {}); unpack the dataset there or give --set data.root=DIR", b.protocol_file.string(),
           c.data_root.string(), c.name);
  fs::create_directories(o.out / "cells");
  check_manifest(b, o.out, true);
  std::signal(SIGPIPE, SIG_IGN);  // a closed terminal pipe or a missing gnuplot is an error, not a death
  Runner r{b, o, {}, {}, std::chrono::steady_clock::now(), 0, 0};
  std::vector<const Cell*> mine;
  for (std::size_t i = 0; i < b.cells.size(); ++i)
    if (static_cast<int>(i % static_cast<std::size_t>(o.shards)) == o.shard) mine.push_back(&b.cells[i]);
  r.owned = static_cast<int>(mine.size());

  // Interrupted cells need --resume: say so before anything trains.
  if (!o.resume) {
    std::vector<std::string> stopped;
    for (const Cell* c : mine)
      if (r.interrupted(c->name) && !FileLock::held_elsewhere(r.dir(c->name) / "lock")) stopped.push_back(c->name);
    if (!stopped.empty())
      fail("{}: {} cell(s) were interrupted ({}); pass --resume to continue them from their checkpoints", o.out.string(),
           stopped.size(), join(stopped, ", "));
  }
  for (const Cell* c : mine) {
    ++r.visited;
    if (cell_finished(o.out, c->name)) {
      ++r.summary.finished_before;
      continue;
    }
    std::string why = r.ensure(*c, false);
    if (!why.empty()) {
      log_warn("benchmark: {} failed: {}", c->name, why);
      r.summary.failed.push_back(c->name + ": " + why);
    }
  }
  return r.summary;
}

}  // namespace densemtl::suite
