// LibTorch process settings: intra-op threads (LibTorch 1.13 defaults to half the cores on x86,
// i.e. 1 thread on a 2-core machine), deterministic algorithms, seeds.
#pragma once

#include <cstdint>

namespace densemtl {

// threads <= 0: all cores. Also keeps freed memory in the process heap (glibc's mallopt), so
// that the large activation tensors of every step reuse pages instead of being mapped, zeroed
// by the kernel and unmapped again (about a tenth of a CPU training step otherwise).
void setup_torch(int threads);
void seed_torch(std::uint64_t seed);

}  // namespace densemtl
