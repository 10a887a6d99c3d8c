// URL parsing for configuration values and redirect targets, on libcurl's URL API.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace magic_link {

struct Url {
  std::string scheme;  // lower case
  std::string user;
  std::string password;
  std::string host;  // lower case
  int port = 0;      // the scheme's default when the URL has none
  std::string path;  // "/" at least
  std::string query;
  std::string fragment;
  std::string href;  // the whole URL as libcurl normalised it (dot segments resolved)

  // "scheme://host[:port]" with the port left out when it is the scheme's default.
  std::string origin() const;
  // The origin and the path, without a lone "/": a base for API paths.
  std::string base() const;
};

// Parses an absolute URL. Schemes libcurl does not know (redis) are accepted only when
// `allow_any_scheme` is set. Text with control characters, spaces or backslashes is refused
// outright: browsers and libcurl disagree on how to read those, which is how redirect checks
// get fooled.
std::optional<Url> parse_url(std::string_view text, bool allow_any_scheme = false);

}  // namespace magic_link
