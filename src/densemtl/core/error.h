// Errors a user can act on: a bad file, a bad key, a bad flag. Each carries one line that names
// the file (or key or flag) and the problem; the CLI prints it and exits non-zero.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace densemtl {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A wrong command-line usage (exit status 2 instead of 1).
class UsageError : public Error {
 public:
  using Error::Error;
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// Prefixes the message of any densemtl::Error thrown by `body` with `context` ("file: ").
template <typename F>
auto with_context(const std::string& context, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    throw Error(context + ": " + e.what());
  }
}

}  // namespace densemtl
