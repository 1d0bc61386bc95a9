#include "densemtl/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace densemtl {

void setup_logging(bool verbose, bool quiet) {
  auto logger = spdlog::stderr_color_mt("densemtl");
  logger->set_pattern("%^%L%$ %H:%M:%S %v");
  logger->set_level(quiet ? spdlog::level::warn : verbose ? spdlog::level::debug : spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace densemtl
