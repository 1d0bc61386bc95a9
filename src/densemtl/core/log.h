// Logging through spdlog: one sink on stderr, short pattern. Use log_info/log_warn anywhere.
#pragma once

#include <spdlog/spdlog.h>

namespace densemtl {

void setup_logging(bool verbose, bool quiet);

template <typename... Args>
void log_info(spdlog::format_string_t<Args...> format, Args&&... args) {
  spdlog::info(format, std::forward<Args>(args)...);
}
template <typename... Args>
void log_warn(spdlog::format_string_t<Args...> format, Args&&... args) {
  spdlog::warn(format, std::forward<Args>(args)...);
}
template <typename... Args>
void log_debug(spdlog::format_string_t<Args...> format, Args&&... args) {
  spdlog::debug(format, std::forward<Args>(args)...);
}

}  // namespace densemtl
