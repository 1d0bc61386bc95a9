// LibTorch process settings: intra-op threads (LibTorch 1.13 defaults to half the cores on x86,
// i.e. 1 thread on a 2-core machine), deterministic algorithms, seeds.
#pragma once

#include <cstdint>

namespace densemtl {

// threads <= 0: all cores.
void setup_torch(int threads);
void seed_torch(std::uint64_t seed);

}  // namespace densemtl
