#include "core/input/email.h"

#include <algorithm>
#include <cctype>

namespace magic_link {
namespace {

bool is_atext(unsigned char c) {
  return std::isalnum(c) ||
         std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

// Dot-separated runs of allowed characters, none empty.
template <typename Allowed>
bool dotted_runs(std::string_view text, Allowed allowed, size_t max_run) {
  size_t run = 0;
  for (unsigned char c : text) {
    if (c == '.') {
      if (run == 0) return false;
      run = 0;
    } else if (!allowed(c) || ++run > max_run) {
      return false;
    }
  }
  return run > 0;
}

bool valid_domain(std::string_view domain) {
  if (domain.find('.') == std::string_view::npos) return false;
  if (!dotted_runs(
          domain, [](unsigned char c) { return std::isalnum(c) || c == '-'; }, 63)) {
    return false;
  }
  // No label starts or ends with a dash.
  for (size_t i = 0; i < domain.size(); ++i) {
    if (domain[i] != '-') continue;
    if (i == 0 || i + 1 == domain.size() || domain[i - 1] == '.' || domain[i + 1] == '.') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<std::string> normalize_email(std::string_view text) {
  if (text.size() > 254) return std::nullopt;
  const auto at = text.rfind('@');
  if (at == std::string_view::npos) return std::nullopt;
  const std::string_view local = text.substr(0, at);
  const std::string_view domain = text.substr(at + 1);
  if (local.size() > 64 || !dotted_runs(local, is_atext, 64) || !valid_domain(domain)) {
    return std::nullopt;
  }
  std::string normalized(text);
  std::transform(normalized.begin(), normalized.end(), normalized.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return normalized;
}

}  // namespace magic_link
