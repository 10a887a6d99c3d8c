#include "core/input/url.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>

namespace magic_link {
namespace {

struct CurlUrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};

struct CurlStringDeleter {
  void operator()(char* text) const { curl_free(text); }
};

std::string part(CURLU* url, CURLUPart which, unsigned flags = 0) {
  char* raw = nullptr;
  if (curl_url_get(url, which, &raw, flags) != CURLUE_OK) return {};
  std::unique_ptr<char, CurlStringDeleter> owned(raw);
  return raw;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool has_ambiguous_characters(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](unsigned char c) { return c <= 0x20 || c == 0x7f || c == '\\'; });
}

}  // namespace

std::string Url::origin() const {
  std::string text = scheme + "://" + host;
  const bool default_port = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  if (!default_port) text += ":" + std::to_string(port);
  return text;
}

std::string Url::base() const {
  return origin() + (path == "/" ? "" : path);
}

std::optional<Url> parse_url(std::string_view text, bool allow_any_scheme) {
  if (text.empty() || has_ambiguous_characters(text)) return std::nullopt;
  std::unique_ptr<CURLU, CurlUrlDeleter> handle(curl_url());
  if (!handle) return std::nullopt;
  const std::string input(text);
  const unsigned flags = allow_any_scheme ? CURLU_NON_SUPPORT_SCHEME : 0;
  if (curl_url_set(handle.get(), CURLUPART_URL, input.c_str(), flags) != CURLUE_OK) {
    return std::nullopt;
  }
  Url url;
  url.scheme = lower(part(handle.get(), CURLUPART_SCHEME));
  url.host = lower(part(handle.get(), CURLUPART_HOST));
  url.user = part(handle.get(), CURLUPART_USER, CURLU_URLDECODE);
  url.password = part(handle.get(), CURLUPART_PASSWORD, CURLU_URLDECODE);
  url.path = part(handle.get(), CURLUPART_PATH);
  url.query = part(handle.get(), CURLUPART_QUERY);
  url.fragment = part(handle.get(), CURLUPART_FRAGMENT);
  url.href = part(handle.get(), CURLUPART_URL);
  const std::string port = part(handle.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  url.port = port.empty() ? 0 : std::stoi(port);
  if (url.scheme.empty() || url.host.empty()) return std::nullopt;
  if (url.path.empty()) url.path = "/";
  return url;
}

}  // namespace magic_link
