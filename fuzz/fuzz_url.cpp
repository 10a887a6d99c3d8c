// Fuzzes redirect URLs: the `redirectUrl` a client posts to <api>/generate, which ends up in the
// mailed link; and URL-valued settings, which go through the same parse_url.
//
// Feeds: allowed_redirect against a fixed allow-list (built by the real configuration code from
// `magic_link_redirect_allow`), and parse_url with and without allow_any_scheme.
// Checks: no crash or sanitizer report, and
//   - parse_url: scheme and host non-empty and lower case, path non-empty, port 0..65535; a URL
//     accepted for http(s)-only schemes is also accepted with allow_any_scheme;
//   - allowed_redirect: the result is itself allowed and unchanged (idempotent); it holds no
//     control character, space or backslash (it goes into a Location header and a mail); it
//     parses to http(s), no user info or fragment, with an allow-listed origin and a path under
//     that entry's prefix, also as a browser resolves it (WHATWG reads "%2e%2e" and ".%2e"
//     segments as ".."); the mailed link link_with_token(result, T) keeps origin and path and
//     carries exactly one token, T (form_field of its query), so no frontend can read another;
//     its path, as nginx routes it, never reaches a module location, and its query names no
//     token field in any spelling.
#include "core/input/body.h"
#include "core/input/redirect.h"
#include "core/config/settings.h"
#include "core/input/url.h"
#include "fuzz_util.h"

#include <algorithm>
#include <cctype>

using magic_link::UrlPrefix;

namespace {

const magic_link::Settings& settings() {
  static const magic_link::Settings built = [] {
    magic_link::DirectiveValues values;
    values.set("magic_link_secret", {"0123456789abcdef0123456789abcdef"});
    values.set("magic_link_public_url", {"https://cms.example.com"});
    values.set("magic_link_redirect_allow",
               {"https://cms.example.com/", "https://app.example.com:8443/login",
                "http://localhost:3000/app/"});
    const auto resolved = magic_link::resolve_settings(
        values, [](std::string_view) { return std::optional<std::string>(); }, "/nonexistent");
    if (!resolved.settings) {
      std::fprintf(stderr, "fuzz_url: allow-list setup failed: %s\n", resolved.error.c_str());
      std::abort();
    }
    magic_link::Settings settings = *resolved.settings;
    settings.module_locations = {
        {"/magic-link-api/", false}, {"/magic-link-ui", false}, {"/exact", true}};
    return settings;
  }();
  return built;
}

const std::vector<UrlPrefix>& allow_list() {
  return settings().redirect_allow_list;
}

// The same rule as redirect.cpp, written again as the oracle.
bool under_prefix(std::string_view path, std::string_view prefix) {
  if (prefix.empty() || path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

bool lower_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == y;
         });
}

// The path as a browser navigates to it: WHATWG's "single-dot" (".", "%2e") and "double-dot"
// ("..", ".%2e", "%2e.", "%2e%2e", any case) segments resolved. libcurl resolves only the
// literal ones, so the core checks the prefix against a path a browser may read differently.
std::string browser_path(std::string_view path) {
  std::vector<std::string> out;
  const auto segments = fuzz::split(path.substr(1), '/');
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& s = segments[i];
    const bool last = i + 1 == segments.size();
    if (s == ".." || lower_equal(s, ".%2e") || lower_equal(s, "%2e.") || lower_equal(s, "%2e%2e")) {
      if (!out.empty()) out.pop_back();
      if (last) out.emplace_back();
    } else if (s == "." || lower_equal(s, "%2e")) {
      if (last) out.emplace_back();
    } else {
      out.push_back(s);
    }
  }
  std::string resolved;
  for (const auto& s : out) resolved += "/" + s;
  return resolved.empty() ? "/" : resolved;
}

void check_parse(std::string_view input) {
  const auto strict_scheme = magic_link::parse_url(input);
  const auto any_scheme = magic_link::parse_url(input, /*allow_any_scheme=*/true);
  if (strict_scheme) FUZZ_CHECK(any_scheme.has_value());
  for (const auto* url : {&strict_scheme, &any_scheme}) {
    if (!url->has_value()) continue;
    const auto& u = **url;
    FUZZ_CHECK(!u.scheme.empty() && fuzz::is_lower_ascii(u.scheme));
    FUZZ_CHECK(!u.host.empty() && fuzz::is_lower_ascii(u.host));
    FUZZ_CHECK(!u.path.empty());
    FUZZ_CHECK(u.port >= 0 && u.port <= 65535);
    FUZZ_CHECK(!u.href.empty());
    (void)u.origin();
  }
}

void check_redirect(std::string_view input) {
  const auto result = magic_link::allowed_redirect(input, settings());
  if (!result) return;

  FUZZ_CHECK(magic_link::allowed_redirect(*result, settings()) == result);
  for (unsigned char c : *result) FUZZ_CHECK(c > 0x20 && c != 0x7f && c != '\\');

  const auto url = magic_link::parse_url(*result);
  FUZZ_CHECK(url.has_value());
  FUZZ_CHECK(url->scheme == "http" || url->scheme == "https");
  FUZZ_CHECK(url->user.empty() && url->password.empty() && url->fragment.empty());
  const auto entry = std::find_if(allow_list().begin(), allow_list().end(), [&](const auto& a) {
    return a.origin == url->origin() && under_prefix(url->path, a.path_prefix);
  });
  FUZZ_CHECK(entry != allow_list().end());

  // The path as a browser resolves it stays under the prefix too.
  FUZZ_CHECK(std::any_of(allow_list().begin(), allow_list().end(), [&](const auto& a) {
    return a.origin == url->origin() && under_prefix(browser_path(url->path), a.path_prefix);
  }));

  // Never into the module's own locations, as nginx routes the path (decoded, slashes merged).
  const auto routed = magic_link::routed_path(url->path);
  FUZZ_CHECK(routed.has_value());
  FUZZ_CHECK(routed->rfind("/magic-link-api/", 0) != 0 && routed->rfind("/magic-link-ui", 0) != 0 &&
             *routed != "/exact");
  FUZZ_CHECK(!magic_link::query_names_token(url->query));

  // The mailed link: the redirect target with the token appended. Same place, one token.
  const std::string token = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  const auto mailed = magic_link::parse_url(magic_link::link_with_token(*result, token));
  FUZZ_CHECK(mailed.has_value());
  FUZZ_CHECK(mailed->origin() == url->origin() && mailed->path == url->path);
  const auto field = magic_link::form_field(mailed->query, "token");
  FUZZ_CHECK(field.state == magic_link::Field::State::text && field.value == token);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = fuzz::text(data, size);
  check_parse(input);
  check_redirect(input);
  return 0;
}
