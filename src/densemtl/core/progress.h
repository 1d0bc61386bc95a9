// A terminal progress bar with rate and ETA. On a terminal it redraws one line in place; when
// stderr is a file or pipe it prints a plain line every few seconds instead, so logs stay short.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace densemtl {

class ProgressBar {
 public:
  // `unit` names what is counted ("img", "batch"). `total` may be 0 when unknown.
  ProgressBar(std::string label, std::int64_t total, std::string unit = "it");
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Thread-safe: adds `n` done items and redraws at most a few times a second.
  void advance(std::int64_t n = 1);
  // Text shown after the rate (e.g. running losses). Thread-safe.
  void set_postfix(const std::string& text);
  // Draws the final state and a newline; returns the elapsed seconds.
  double finish();

  double elapsed() const;
  std::int64_t done() const { return done_; }
  // Items per second so far.
  double rate() const;

  // Globally silence bars (tests, --quiet).
  static void set_enabled(bool enabled);

 private:
  void draw(bool final_line);
  std::string label_, unit_, postfix_;
  std::int64_t total_, done_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool tty_, finished_ = false;
  mutable std::mutex mutex_;
};

}  // namespace densemtl
