#include "core/input/redirect.h"

#include <algorithm>
#include <cctype>

#include "core/input/query.h"
#include "core/input/url.h"

namespace magic_link {
namespace {

bool under_prefix(std::string_view path, std::string_view prefix) {
  if (path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

bool routes_to(std::string_view path, const ModuleLocation& location) {
  if (location.exact) return path == location.path;
  return path.substr(0, location.path.size()) == location.path;  // nginx's prefix match
}

}  // namespace

std::optional<std::string> routed_path(std::string_view path) {
  std::string decoded;
  for (size_t i = 0; i < path.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(path[i]);
    if (c == '%') {
      const int byte = escaped_byte(path, i);
      if (byte < 0) return std::nullopt;
      c = static_cast<unsigned char>(byte);
      if (c == '/' || c == '\\' || c == '.' || c == 0) return std::nullopt;
      i += 2;
    }
    if (c < 0x20 || c == 0x7f || c == '\\') return std::nullopt;
    if (c == '/' && !decoded.empty() && decoded.back() == '/') continue;  // merge_slashes
    decoded += static_cast<char>(c);
  }
  return decoded;
}

std::optional<std::string> allowed_redirect(std::string_view text, const Settings& settings) {
  const auto url = parse_url(text);
  if (!url || (url->scheme != "http" && url->scheme != "https") || !url->user.empty() ||
      !url->password.empty() || !url->fragment.empty() ||
      std::any_of(url->host.begin(), url->host.end(), [](unsigned char c) { return c >= 0x80; })) {
    return std::nullopt;
  }
  // An empty segment ("//") is merged by nginx but kept by other servers and by browsers: the
  // same URL would be under the prefix for one and not for the other.
  if (url->path.find("//") != std::string::npos) return std::nullopt;
  const auto path = routed_path(url->path);
  if (!path) return std::nullopt;
  // A token already in the query would put two in the mailed link; a frontend reading the first
  // would sign the user in with someone else's (login CSRF).
  if (query_names_token(url->query)) return std::nullopt;
  // The module's API redeems on GET: a mailed link into it would be spent by mail scanners.
  for (const auto& location : settings.module_locations) {
    if (routes_to(*path, location)) return std::nullopt;
  }
  const std::string origin = url->origin();
  for (const auto& allowed : settings.redirect_allow_list) {
    if (origin == allowed.origin && under_prefix(*path, allowed.path_prefix)) return url->href;
  }
  return std::nullopt;
}

std::optional<std::string> return_target(std::string_view text) {
  constexpr size_t kMaxLength = 2048;
  if (text.empty() || text.size() > kMaxLength || text.front() != '/') return std::nullopt;
  if (text.size() > 1 && (text[1] == '/' || text[1] == '\\')) return std::nullopt;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c <= ' ' || c >= 0x7f || c == '\\' || c == '#') return std::nullopt;
    if (c == '%') {
      const int byte = escaped_byte(text, i);
      if (byte < 0x20 || byte == 0x7f || byte == '/' || byte == '\\') return std::nullopt;
    }
  }
  return std::string(text);
}

std::string link_with_token(std::string_view base, std::string_view token) {
  const char separator = base.find('?') == std::string_view::npos ? '?' : '&';
  return std::string(base) + separator + "token=" + std::string(token);
}

}  // namespace magic_link
