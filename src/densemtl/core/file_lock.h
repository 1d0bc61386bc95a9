// An exclusive POSIX record lock on a file, held while the object lives: the benchmark's cells
// and results, and run folders (one training per folder). The kernel releases it when its holder
// dies, so a killed process leaves no stale lock; the holder writes "pid <n> on <host> since
// <time>" into the file for others to name it.
#pragma once

#include <string>

#include "densemtl/core/fs.h"

namespace densemtl {

// Holds an exclusive lock on `file` (created if absent) while alive: `try_lock` gives up when
// another process holds it, `wait` blocks until it is free.
class FileLock {
 public:
  static FileLock try_lock(const fs::path& file);
  static FileLock wait(const fs::path& file);
  FileLock(FileLock&& other) noexcept : fd_(other.fd_), key_(std::move(other.key_)) { other.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  ~FileLock();
  bool held() const { return fd_ >= 0; }
  // Whether another process holds it (a probe that takes nothing; false for a file this process
  // holds, which it does not open again: closing any descriptor of a file releases the process's
  // POSIX lock on it).
  static bool held_elsewhere(const fs::path& file);
  // What the holder wrote into the file: "pid <n> on <host> since <time>".
  static std::string holder(const fs::path& file);

 private:
  FileLock(int fd, std::string key);
  int fd_ = -1;
  std::string key_;  // the file's canonical path, in the process's set of held files
};

}  // namespace densemtl
