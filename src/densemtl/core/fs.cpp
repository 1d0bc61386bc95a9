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
  std::error_code ec;
  // A symlink is written through to its target (the link stays); a device, FIFO or other special
  // file (/dev/stdout, /dev/full) is written directly, since it cannot be replaced by a rename.
  fs::path target = path;
  if (fs::is_symlink(fs::symlink_status(path, ec))) {
    target = fs::weakly_canonical(path, ec);
    if (ec) fail("{}: cannot resolve the symbolic link ({})", path.string(), ec.message());
  }
  fs::file_status st = fs::status(target, ec);
  if (fs::exists(st) && fs::is_directory(st)) fail("{}: is a folder, expected a file", path.string());
  if (fs::exists(st) && !fs::is_regular_file(st)) {
    write(target);
    return;
  }
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
    if (ec) fail("{}: cannot create the folder {} ({})", path.string(), target.parent_path().string(), ec.message());
  }
  fs::path tmp = temp_name(target);
  try {
    write(tmp);
    if (durable) fsync_path(tmp);
    fs::rename(tmp, target, ec);
    if (ec) fail("{}: cannot rename temporary file into place ({})", path.string(), ec.message());
    if (durable && target.has_parent_path()) fsync_path(target.parent_path());
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

bool is_temporary_file(const fs::path& path) {
  // <name>.tmp.<pid>.<counter>, as temp_name writes it.
  const std::string name = path.filename().string();
  const auto at = name.rfind(".tmp.");
  if (at == std::string::npos || at == 0) return false;
  const std::string rest = name.substr(at + 5);
  const auto dot = rest.find('.');
  auto digits = [](const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; };
  return dot != std::string::npos && digits(rest.substr(0, dot)) && digits(rest.substr(dot + 1));
}

void remove_temporary_files(const fs::path& folder) {
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec) && is_temporary_file(it->path())) fs::remove(it->path(), ec);
}

void write_file_atomic(const fs::path& path, const std::string& bytes, bool durable) {
  write_atomic(path, [&](const fs::path& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("{}: cannot write ({})", path.string(), std::strerror(errno));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) fail("{}: write error ({})", path.string(), errno ? std::strerror(errno) : "disk full?");
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
