#include "densemtl/core/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "densemtl/core/error.h"

namespace densemtl {

std::string read_file(const fs::path& path) {
  require_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open ({})", path.string(), std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) fail("{}: read error", path.string());
  return buffer.str();
}

void require_file(const fs::path& path, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("{} not found: {}", what, path.string());
  if (fs::is_directory(path, ec)) fail("{}: is a folder, expected a {}", path.string(), what);
}

void require_dir(const fs::path& path, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("{} not found: {}", what, path.string());
  if (!fs::is_directory(path, ec)) fail("{}: not a folder", path.string());
}

namespace {

fs::path temp_name(const fs::path& path) {
  static std::atomic<unsigned> counter{0};
  fs::path tmp = path;
  tmp += fmt::format(".tmp.{}.{}", static_cast<long>(::getpid()), counter++);
  return tmp;
}

void fsync_path(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

void write_atomic(const fs::path& path, const std::function<void(const fs::path& tmp)>& write, bool durable) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  fs::path tmp = temp_name(path);
  try {
    write(tmp);
    if (durable) fsync_path(tmp);
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) fail("{}: cannot rename temporary file into place ({})", path.string(), ec.message());
    if (durable && path.has_parent_path()) fsync_path(path.parent_path());
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

void write_file_atomic(const fs::path& path, const std::string& bytes, bool durable) {
  write_atomic(path, [&](const fs::path& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("{}: cannot write ({})", path.string(), std::strerror(errno));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) fail("{}: write error (disk full?)", path.string());
  }, durable);
}

StagingDir::StagingDir(fs::path final_dir, bool replace)
    : final_(std::move(final_dir)), replace_(replace) {
  std::error_code ec;
  if (fs::exists(final_, ec) && !replace_) {
    if (!fs::is_directory(final_) || !fs::is_empty(final_))
      fail("{}: already exists; choose another folder or pass --force to replace it", final_.string());
  }
  staging_ = final_;
  staging_ += ".partial";
  fs::remove_all(staging_, ec);
  fs::create_directories(staging_, ec);
  if (ec) fail("{}: cannot create folder ({})", staging_.string(), ec.message());
}

void StagingDir::commit() {
  if (committed_) return;
  std::error_code ec;
  if (fs::exists(final_, ec)) fs::remove_all(final_, ec);
  if (ec) fail("{}: cannot remove the previous version ({})", final_.string(), ec.message());
  fs::rename(staging_, final_, ec);
  if (ec) fail("{}: cannot move {} into place ({})", final_.string(), staging_.string(), ec.message());
  committed_ = true;
}

}  // namespace densemtl
