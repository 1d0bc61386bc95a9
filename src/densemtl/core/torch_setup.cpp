#include "densemtl/core/torch_setup.h"

#include <torch/torch.h>

#include "densemtl/core/parallel.h"

namespace densemtl {

void setup_torch(int threads) {
  at::set_num_threads(threads > 0 ? threads : default_threads());
}

void seed_torch(std::uint64_t seed) { torch::manual_seed(seed); }

}  // namespace densemtl
