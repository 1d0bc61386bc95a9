// Helpers shared by the tests: temporary folders, error-message expectations, running densemtl.
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <map>
#include <thread>
#include <vector>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "densemtl/core/error.h"
#include "densemtl/core/fs.h"

namespace densemtl::test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "densemtl-test-XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    if (!made) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Expects `body` to throw densemtl::Error whose message contains every one of `parts`.
inline void expect_error(const std::function<void()>& body, std::initializer_list<std::string> parts) {
  try {
    body();
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "error message spans several lines: " << msg;
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message '" << msg << "' lacks '" << p << "'";
    return;
  }
  ADD_FAILURE() << "expected a densemtl::Error";
}
inline void expect_error(const std::function<void()>& body, const std::string& part) { expect_error(body, {part}); }

// Runs the densemtl binary (quietly) with `args`; returns its exit status and combined output.
struct CommandResult {
  int status;
  std::string output;
};
inline CommandResult run_densemtl(const std::string& args) {
  std::string cmd = std::string(DENSEMTL_BINARY) + " -q " + args + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Arguments as one shell-quoted string (for run_densemtl).
inline std::string join_args(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) {
    out += out.empty() ? "'" : " '";
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += "'";
  }
  return out;
}

// Starts `densemtl args` with extra environment variables, output to `log`.
inline pid_t spawn(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                   const fs::path& log) {
  std::vector<std::string> argv_s{DENSEMTL_BINARY, "-q"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<std::string> env_s;
  for (char** e = environ; *e; ++e) env_s.emplace_back(*e);
  for (const auto& [k, v] : env) env_s.push_back(k + "=" + v);
  std::vector<char*> argv, envp;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string log_path = log.string();
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

// Waits up to `seconds` for `pid`; its exit status, or -1 when it is still running.
inline int wait_for(pid_t pid, double seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
  while (std::chrono::steady_clock::now() < end) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

}  // namespace densemtl::test
