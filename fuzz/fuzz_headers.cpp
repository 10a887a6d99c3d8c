// Fuzzes the headers the browser flow reads or relays: Origin and Referer of POST <verify>
// (same_origin, the CSRF check) and Directus' Set-Cookie, which relay_cookie passes on.
//
// Feeds: the input as one header value, in every role, under an http and an https public URL
// with a non-default port and path: same_origin(s, input, ""), same_origin(s, "", input),
// same_origin(s, input, input), relay_cookie(s, input).
// Checks: no crash or sanitizer report, and
//   - an Origin, when present, decides alone: accepted exactly when it equals the public
//     origin, whatever the Referer says;
//   - a Referer accepted (no Origin) names the public origin: when parse_url reads it, its
//     origin() is the public origin (no userinfo, backslash or case trick gets another host in);
//   - relay_cookie keeps the cookie as sent, or appends "; Secure"; behind http it adds nothing;
//     behind https the result has a real Secure attribute (one ';'-separated attribute that is
//     "secure" once trimmed, any case; "; SecureX" is not one).
#include "core/render/pages.h"
#include "core/config/settings.h"
#include "core/input/url.h"
#include "fuzz_util.h"

#include <algorithm>
#include <cctype>

using magic_link::Settings;

namespace {

Settings settings_for(const char* public_url) {
  magic_link::DirectiveValues values;
  values.set("magic_link_secret", {"0123456789abcdef0123456789abcdef"});
  values.set("magic_link_public_url", {public_url});
  const auto resolved = magic_link::resolve_settings(
      values, [](std::string_view) { return std::optional<std::string>(); }, "/nonexistent");
  if (!resolved.settings) {
    std::fprintf(stderr, "fuzz_headers: settings setup failed: %s\n", resolved.error.c_str());
    std::abort();
  }
  return *resolved.settings;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool has_secure_attribute(std::string_view cookie) {
  const auto attributes = fuzz::split(cookie, ';');
  return std::any_of(attributes.begin() + 1, attributes.end(), [](const std::string& a) {
    const auto first = a.find_first_not_of(" \t");
    const auto last = a.find_last_not_of(" \t");
    return first != std::string::npos && lower(a.substr(first, last - first + 1)) == "secure";
  });
}

void check(const Settings& s, std::string_view input) {
  const std::string expected = s.public_url.origin();

  const bool is_origin = !input.empty() && input == expected;
  FUZZ_CHECK(magic_link::same_origin(s, input, "") == is_origin);
  FUZZ_CHECK(magic_link::same_origin(s, input, expected + "/") == (input.empty() || is_origin));
  if (!input.empty()) FUZZ_CHECK(magic_link::same_origin(s, input, input) == is_origin);
  if (magic_link::same_origin(s, "", input)) {
    if (const auto referer = magic_link::parse_url(input)) {
      FUZZ_CHECK(referer->origin() == expected);
    }
  }

  const std::string cookie = magic_link::relay_cookie(s, input);
  FUZZ_CHECK(cookie.compare(0, input.size(), input) == 0);
  if (s.public_url.scheme == "http") {
    FUZZ_CHECK(cookie == input);
  } else {
    FUZZ_CHECK(cookie == input || cookie == std::string(input) + "; Secure");
    FUZZ_CHECK(has_secure_attribute(cookie));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Settings plain = settings_for("http://localhost:8055");
  static const Settings secure = settings_for("https://CMS.Example.com:8443/base/");
  const std::string_view input = fuzz::text(data, size);
  check(plain, input);
  check(secure, input);
  return 0;
}
