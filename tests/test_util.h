// Helpers shared by the tests: temporary folders and error-message expectations.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
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

}  // namespace densemtl::test
