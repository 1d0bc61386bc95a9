#include "densemtl/core/file_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>
#include <set>

#include "densemtl/core/error.h"
#include "densemtl/core/strings.h"

namespace densemtl {

namespace {

// The lock files this process holds. A POSIX record lock belongs to the process and the file:
// closing any descriptor of that file, even one opened only to look, releases it. So a file this
// process holds is never opened again (probed or locked) while it holds it.
std::mutex g_held_mutex;
std::set<std::string> g_held;

std::string key_of(const fs::path& file) {
  std::error_code ec;
  const fs::path k = fs::weakly_canonical(fs::absolute(file), ec);
  return (ec ? fs::absolute(file) : k).string();
}

bool held_here(const fs::path& file) {
  std::lock_guard<std::mutex> lock(g_held_mutex);
  return g_held.count(key_of(file)) > 0;
}

int open_lock_file(const fs::path& file) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail("{}: cannot open the lock file ({})", file.string(), std::strerror(errno));
  return fd;
}

bool lock_fd(int fd, bool wait) {
  struct flock l {};
  l.l_type = F_WRLCK;
  l.l_whence = SEEK_SET;
  while (::fcntl(fd, wait ? F_SETLKW : F_SETLK, &l) != 0) {
    if (errno == EINTR) continue;
    if (errno == EACCES || errno == EAGAIN) return false;
    fail("cannot lock a file ({}); the folder needs a file system with POSIX locks", std::strerror(errno));
  }
  return true;
}

void write_holder(int fd) {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  std::time_t now = std::time(nullptr);
  char when[64];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  std::string text = fmt::format("pid {} on {} since {}\n", ::getpid(), host, when);
  if (::ftruncate(fd, 0) == 0 && ::pwrite(fd, text.data(), text.size(), 0) < 0) {
    // The holder's description is informative only.
  }
}

}  // namespace

FileLock FileLock::try_lock(const fs::path& file) {
  if (held_here(file)) return FileLock(-1, "");  // held by this process already: not a second time
  int fd = open_lock_file(file);
  if (!lock_fd(fd, false)) {
    ::close(fd);
    return FileLock(-1, "");
  }
  write_holder(fd);
  return FileLock(fd, key_of(file));
}

FileLock FileLock::wait(const fs::path& file) {
  if (held_here(file)) fail("{}: this process holds the lock already", file.string());
  int fd = open_lock_file(file);
  lock_fd(fd, true);
  write_holder(fd);
  return FileLock(fd, key_of(file));
}

FileLock::FileLock(int fd, std::string key) : fd_(fd), key_(std::move(key)) {
  if (fd_ >= 0) {
    std::lock_guard<std::mutex> lock(g_held_mutex);
    g_held.insert(key_);
  }
}

FileLock::~FileLock() {
  if (fd_ < 0) return;
  {
    std::lock_guard<std::mutex> lock(g_held_mutex);
    g_held.erase(key_);
  }
  ::close(fd_);  // closing releases the lock
}

bool FileLock::held_elsewhere(const fs::path& file) {
  if (held_here(file)) return false;  // looking would release it
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct flock l {};
  l.l_type = F_WRLCK;
  l.l_whence = SEEK_SET;
  const bool held = ::fcntl(fd, F_GETLK, &l) == 0 && l.l_type != F_UNLCK;
  ::close(fd);
  return held;
}

std::string FileLock::holder(const fs::path& file) {
  if (held_here(file)) return "this process";
  std::error_code ec;
  if (!fs::exists(file, ec)) return "another process";
  std::string text = trim(read_file(file));
  return text.empty() ? "another process" : text;
}

}  // namespace densemtl
