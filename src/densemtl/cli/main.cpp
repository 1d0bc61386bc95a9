#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "densemtl/cli/common.h"

namespace {

// The subcommands whose work is LibTorch's OpenMP-parallel arithmetic.
bool computes(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-') continue;
    for (const char* name : {"train", "evaluate", "predict", "branch", "benchmark", "launch"})
      if (std::strcmp(argv[i], name) == 0) return true;
    return false;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  // OpenMP's threads spin while they wait for work. On a machine another busy process shares, the
  // spinning takes the cores the descheduled threads need, and a training step slows down several
  // times (bench/load.sh). Passive waiting avoids that, and costs nothing measurable alone. OpenMP
  // reads the policy once, when the program loads, so a computing command starts itself again
  // with it set; a policy the user set (even an empty one, OpenMP's default) is kept, and the
  // processes densemtl starts (launch, benchmark) inherit it.
  if (computes(argc, argv) && !std::getenv("OMP_WAIT_POLICY")) {
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    ::execv("/proc/self/exe", argv);  // on failure, go on as started
  }
  return densemtl::cli::run_main(argc, argv);
}
