#include "densemtl/core/process.h"

#include <sys/wait.h>

#include <cstring>

#include <fmt/format.h>

namespace densemtl {

std::string describe_exit_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return "stopped";
}

}  // namespace densemtl
