// Small string helpers shared by the CLI, configs and readers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace densemtl {

std::vector<std::string> split(std::string_view text, char separator);
std::string trim(std::string_view text);
std::string join(const std::vector<std::string>& parts, std::string_view separator);
bool starts_with(std::string_view text, std::string_view prefix);
bool ends_with(std::string_view text, std::string_view suffix);
std::string lower(std::string_view text);

// "HxW" (e.g. "96x128") -> {H, W}; throws densemtl::Error naming `what` on a bad value.
std::pair<int, int> parse_size(const std::string& text, const std::string& what);

// Levenshtein distance, for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b);
// The closest candidate within a small distance, or "" when none is close.
// Whether `text` is well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view text);
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

// "1.5 s", "2 min 03 s", "1 h 02 min".
std::string format_duration(double seconds);

}  // namespace densemtl
