// Child processes: how one ended, in words (for launchers and runners that wait on children).
#pragma once

#include <string>

namespace densemtl {

// "exited with status N", "was killed by signal N (name)" or "stopped", from a waitpid status.
std::string describe_exit_status(int status);

}  // namespace densemtl
