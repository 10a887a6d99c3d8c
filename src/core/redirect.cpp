#include "core/redirect.h"

#include "core/url.h"

namespace magic_link {
namespace {

bool under_prefix(std::string_view path, std::string_view prefix) {
  if (path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

}  // namespace

std::optional<std::string> allowed_redirect(std::string_view text,
                                            const std::vector<UrlPrefix>& allow_list) {
  const auto url = parse_url(text);
  if (!url || (url->scheme != "http" && url->scheme != "https") || !url->user.empty() ||
      !url->password.empty() || !url->fragment.empty()) {
    return std::nullopt;
  }
  const std::string origin = url->origin();
  for (const auto& allowed : allow_list) {
    if (origin == allowed.origin && under_prefix(url->path, allowed.path_prefix)) return url->href;
  }
  return std::nullopt;
}

std::string link_with_token(std::string_view base, std::string_view token) {
  const char separator = base.find('?') == std::string_view::npos ? '?' : '&';
  return std::string(base) + separator + "token=" + std::string(token);
}

}  // namespace magic_link
