#include "core/input/fingerprint.h"

#include <arpa/inet.h>

#include <cctype>

namespace magic_link {
namespace {

struct Rule {
  std::string_view marker;  // found in the User-Agent
  std::string_view name;
};

// First match wins: Edge and Opera say "Chrome" too, Chrome says "Safari", Android "Linux".
constexpr Rule kBrowsers[] = {
    {"Edg/", "Edge"},        {"OPR/", "Opera"},     {"SamsungBrowser/", "Samsung Internet"},
    {"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"}, {"CriOS/", "Chrome"},
    {"Chrome/", "Chrome"},   {"Safari/", "Safari"},
};
constexpr Rule kSystems[] = {
    {"iPhone", "iOS"},      {"iPad", "iPadOS"},    {"Android", "Android"}, {"CrOS", "ChromeOS"},
    {"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"},
};

template <size_t N>
std::string first_match(std::string_view text, const Rule (&rules)[N]) {
  for (const Rule& rule : rules) {
    if (text.find(rule.marker) != std::string_view::npos) return std::string(rule.name);
  }
  return {};
}

// "en-US,en;q=0.9" -> "en-US": letters, digits and '-' only, at most a language tag's length.
std::string first_language(std::string_view header) {
  std::string tag;
  for (char c : header.substr(0, header.find_first_of(",;"))) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-') {
      tag += c;
    } else if (c != ' ') {
      return {};
    }
  }
  return tag.size() <= 35 ? tag : std::string();
}

// The client's /24 (IPv4) or /48 (IPv6): where, roughly, without who.
std::string network_of(std::string_view ip) {
  const std::string text(ip);
  unsigned char bytes[16] = {};
  char out[INET6_ADDRSTRLEN] = {};
  if (inet_pton(AF_INET, text.c_str(), bytes) == 1) {
    bytes[3] = 0;
    return inet_ntop(AF_INET, bytes, out, sizeof out) ? std::string(out) + "/24" : std::string();
  }
  if (inet_pton(AF_INET6, text.c_str(), bytes) == 1) {
    for (int i = 6; i < 16; ++i) bytes[i] = 0;
    return inet_ntop(AF_INET6, bytes, out, sizeof out) ? std::string(out) + "/48" : std::string();
  }
  return {};
}

}  // namespace

Fingerprint coarse_fingerprint(std::string_view user_agent, std::string_view accept_language,
                               std::string_view ip) {
  return {first_match(user_agent, kBrowsers), first_match(user_agent, kSystems),
          first_language(accept_language), network_of(ip)};
}

}  // namespace magic_link
