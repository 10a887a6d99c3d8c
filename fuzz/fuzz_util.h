// Shared by the libFuzzer targets in fuzz/: invariant checks and input splitting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace fuzz {

// A property the fuzzed code must keep. A violation aborts, which libFuzzer reports as a crash
// and saves the input (under the -artifact_prefix fuzz.mk passes).
[[noreturn]] inline void fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "fuzz invariant violated at %s:%d: %s\n", file, line, what);
  std::abort();
}
#define FUZZ_CHECK(cond) ((cond) ? (void)0 : ::fuzz::fail(#cond, __FILE__, __LINE__))

inline std::string_view text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The pieces of `text` between `separator` bytes (n separators give n + 1 pieces).
inline std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> pieces;
  while (true) {
    const auto at = text.find(separator);
    pieces.emplace_back(text.substr(0, at));
    if (at == std::string_view::npos) return pieces;
    text.remove_prefix(at + 1);
  }
}

inline bool has_byte(std::string_view text, char c) {
  return text.find(c) != std::string_view::npos;
}

inline bool is_lower_ascii(std::string_view text) {
  for (unsigned char c : text) {
    if (c >= 'A' && c <= 'Z') return false;
  }
  return true;
}

}  // namespace fuzz
