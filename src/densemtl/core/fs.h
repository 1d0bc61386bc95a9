// File-system helpers: whole-file reads with clear errors, atomic writes (temp file + rename),
// and staging folders that only take their final name once complete.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

namespace densemtl {

namespace fs = std::filesystem;

// Reads a whole file; a missing or unreadable file is a densemtl::Error naming it.
std::string read_file(const fs::path& path);
// Fails with "<what> not found: <path>" unless `path` exists as a regular file.
void require_file(const fs::path& path, const std::string& what = "file");
void require_dir(const fs::path& path, const std::string& what = "folder");

// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a reader
// never sees a half-written file and a crash leaves the previous version intact. `durable` adds
// fsync of the file and its folder (checkpoints), which costs milliseconds per file.
void write_file_atomic(const fs::path& path, const std::string& bytes, bool durable = false);
// A symbolic link is written through to its target, and a special file (a device such as
// /dev/stdout, a FIFO) directly, not replaced.
// Same for writers that need a path: `write(tmp)` writes the temporary file.
void write_atomic(const fs::path& path, const std::function<void(const fs::path& tmp)>& write,
                  bool durable = false);
// Whether `path` is a temporary file of write_atomic ("<name>.tmp.<pid>.<n>").
bool is_temporary_file(const fs::path& path);
// Removes the temporary files that killed writers left in `folder` (only write_atomic's own, by
// their exact name pattern: a user's "notes.tmp.txt" stays).
void remove_temporary_files(const fs::path& folder);

// A folder that is built under "<final>.partial" and renamed to its final name by commit().
// If the object is destroyed without commit() the partial folder stays, visibly incomplete.
class StagingDir {
 public:
  // Fails if `final_dir` exists and is not empty, unless `replace` is set.
  StagingDir(fs::path final_dir, bool replace);
  const fs::path& path() const { return staging_; }
  const fs::path& final_path() const { return final_; }
  void commit();

 private:
  fs::path final_, staging_;
  bool replace_;
  bool committed_ = false;
};

}  // namespace densemtl
