#include "densemtl/core/parallel.h"

#include <cstdlib>

#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace densemtl {

int default_threads() {
  // A parent that shares the machine between its children (the benchmark's shards) gives each
  // its part.
  if (const char* env = std::getenv("DENSEMTL_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& body) {
  if (threads <= 0) threads = default_threads();
  if (n == 0) return;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&]() {
    while (!stop.load()) {
      std::size_t i = next.fetch_add(1);
      if (i >= n) break;
      try {
        body(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        stop = true;
      }
    }
  };
  std::size_t count = std::min<std::size_t>(static_cast<std::size_t>(threads), n);
  if (count <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < count; ++t) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace densemtl
