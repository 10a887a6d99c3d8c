#include "core/redirect.h"

#include <algorithm>
#include <cctype>

#include "core/body.h"
#include "core/url.h"

namespace magic_link {
namespace {

// Browsers read %2e as a dot when they resolve "..", libcurl does not; such a path could leave
// the allowed prefix in the browser while passing the check here.
bool has_encoded_dot(std::string_view path) {
  for (size_t i = 0; i + 2 < path.size(); ++i) {
    if (path[i] == '%' && path[i + 1] == '2' &&
        std::tolower(static_cast<unsigned char>(path[i + 2])) == 'e') {
      return true;
    }
  }
  return false;
}

bool under_prefix(std::string_view path, std::string_view prefix) {
  if (path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

}  // namespace

std::optional<std::string> allowed_redirect(std::string_view text,
                                            const std::vector<UrlPrefix>& allow_list) {
  const auto url = parse_url(text);
  if (!url || (url->scheme != "http" && url->scheme != "https") || !url->user.empty() ||
      !url->password.empty() || !url->fragment.empty() || has_encoded_dot(url->path)) {
    return std::nullopt;
  }
  // A token already in the query would put two in the mailed link; a frontend reading the first
  // would sign the user in with someone else's (login CSRF).
  if (form_field(url->query, "token").state != Field::State::absent) return std::nullopt;
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
