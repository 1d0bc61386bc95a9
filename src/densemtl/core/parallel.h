// Thread helpers: a parallel loop over indices with exception propagation.
#pragma once

#include <cstddef>
#include <functional>

namespace densemtl {

// Number of worker threads to use when the user says 0 ("all cores").
int default_threads();

// Runs body(i) for i in [0, n) on `threads` threads (items handed out one at a time, so the
// work per item may vary). The first exception thrown by any item is rethrown after all threads
// stopped; remaining items are skipped.
void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& body);

}  // namespace densemtl
