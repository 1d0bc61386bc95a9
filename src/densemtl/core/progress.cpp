#include "densemtl/core/progress.h"

#include <cstdlib>

#include <unistd.h>

#include <atomic>
#include <cstdio>

#include <fmt/format.h>

#include "densemtl/core/strings.h"

namespace densemtl {

namespace {
std::atomic<bool> g_enabled{true};
}

void ProgressBar::set_enabled(bool enabled) { g_enabled = enabled; }

ProgressBar::ProgressBar(std::string label, std::int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total),
      start_(std::chrono::steady_clock::now()), last_draw_(start_),
      // DENSEMTL_STDERR_TTY=1: stderr passes through a parent to a terminal (densemtl benchmark).
      tty_(::isatty(STDERR_FILENO) != 0 || (std::getenv("DENSEMTL_STDERR_TTY") && std::string(std::getenv("DENSEMTL_STDERR_TTY")) == "1")) {}

ProgressBar::~ProgressBar() {
  if (!finished_ && done_ > 0 && g_enabled) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (tty_) std::fputc('\n', stderr);
  }
}

double ProgressBar::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double ProgressBar::rate() const {
  double t = elapsed();
  return t > 0 ? static_cast<double>(done_) / t : 0.0;
}

void ProgressBar::advance(std::int64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  done_ += n;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since >= (tty_ ? 0.15 : 10.0)) {
    last_draw_ = now;
    draw(false);
  }
}

void ProgressBar::set_postfix(const std::string& text) {
  std::lock_guard<std::mutex> lock(mutex_);
  postfix_ = text;
}

double ProgressBar::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!finished_) {
    finished_ = true;
    draw(true);
  }
  return elapsed();
}

void ProgressBar::draw(bool final_line) {
  if (!g_enabled) return;
  double t = elapsed();
  double r = t > 0 ? static_cast<double>(done_) / t : 0.0;
  std::string line = label_;
  if (total_ > 0) {
    double frac = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
    const int width = 24;
    int filled = static_cast<int>(frac * width);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar += std::string(static_cast<std::size_t>(width - filled), '.');
    line += fmt::format(" [{}] {:3.0f}% {}/{}", bar, frac * 100.0, done_, total_);
  } else {
    line += fmt::format(" {}", done_);
  }
  line += r >= 10 ? fmt::format(" | {:.0f} {}/s", r, unit_) : fmt::format(" | {:.2f} {}/s", r, unit_);
  if (final_line) {
    line += " | " + format_duration(t);
  } else if (total_ > 0 && r > 0) {
    line += " | ETA " + format_duration(static_cast<double>(total_ - done_) / r);
  }
  if (!postfix_.empty()) line += " | " + postfix_;
  if (tty_) {
    std::fprintf(stderr, "\r%s\033[K%s", line.c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace densemtl
