#include "densemtl/core/torch_setup.h"

#include <malloc.h>
#include <torch/torch.h>

#include <cstdlib>

#include "densemtl/core/parallel.h"

namespace densemtl {

void setup_torch(int threads) {
  at::set_num_threads(threads > 0 ? threads : default_threads());
  if (!std::getenv("DENSEMTL_DEFAULT_MALLOC")) {
    mallopt(M_MMAP_THRESHOLD, 512 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  }
}

void seed_torch(std::uint64_t seed) { torch::manual_seed(seed); }

}  // namespace densemtl
