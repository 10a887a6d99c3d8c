// Fuzzes settings values: directive arguments and the environment variables (a Directus env
// file) that serve as their defaults. Both are read when nginx starts, so a bad value must give
// an error message, never a crash or a half-built configuration.
//
// Input: NUL-separated pieces. Each piece is a directive argument, and a piece of the form
// NAME=value is also an environment variable.
// Feeds: check_directive for every row of setting_specs() with all pieces as its arguments;
// resolve_settings with that directive alone (plus a valid secret); resolve_settings with no
// directives and the pieces as the environment.
// Checks: no crash, sanitizer report or exception, and
//   - an error names the directive; for a sensitive one it reads "invalid value (value hidden)
//     in ...", and a marker put into the arguments never shows up in the message;
//   - a directive check_directive accepts also resolves (with a valid secret);
//   - any resolved configuration is complete: secret >= 32 chars, an http(s) public URL with a
//     host (`magic_link_public_url "";` once left it empty), a non-empty redirect allow-list
//     whose prefixes start with '/', an after-login URL, a verify endpoint, a templates folder,
//     a From address with an '@'.
#include "core/config/settings.h"
#include "fuzz_util.h"

#include <map>

using magic_link::Args;
using magic_link::SettingsOrError;

namespace {

constexpr const char* kSecret = "0123456789abcdef0123456789abcdef";
const std::string kMark = "Mq7xSENSITIVEz3K";

void check_resolved(const SettingsOrError& resolved) {
  if (!resolved.settings) {
    FUZZ_CHECK(!resolved.error.empty());
    return;
  }
  const auto& s = *resolved.settings;
  FUZZ_CHECK(s.secret.size() >= 32);
  FUZZ_CHECK(!s.redirect_allow_list.empty());
  for (const auto& prefix : s.redirect_allow_list) {
    FUZZ_CHECK(!prefix.path_prefix.empty() && prefix.path_prefix.front() == '/');
  }
  FUZZ_CHECK(!s.after_login_url.empty());
  FUZZ_CHECK(!s.verify_endpoint.empty() && s.verify_endpoint.front() == '/');
  FUZZ_CHECK(!s.templates_dir.empty());
  FUZZ_CHECK(s.email_from.find('@') != std::string::npos);
  FUZZ_CHECK(s.public_url.scheme == "http" || s.public_url.scheme == "https");
  FUZZ_CHECK(!s.public_url.host.empty());
  (void)s.public_url.origin();
  (void)s.directus_url.origin();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Args args = fuzz::split(fuzz::text(data, size), '\0');
  const auto no_env = [](std::string_view) { return std::optional<std::string>(); };

  for (const auto& spec : magic_link::setting_specs()) {
    const auto problem = magic_link::check_directive(spec, args);
    if (problem) {
      FUZZ_CHECK(problem->find("\"" + std::string(spec.directive) + "\"") != std::string::npos);
      if (spec.sensitive) {
        FUZZ_CHECK(problem->find("invalid value (value hidden) in") == 0);
      }
    }
    // A sensitive value is never quoted: mark each argument and look for the mark.
    if (spec.sensitive) {
      for (const bool append : {true, false}) {
        Args marked;
        for (const auto& arg : args) marked.push_back(append ? arg + kMark : kMark + arg);
        const auto marked_problem = magic_link::check_directive(spec, marked);
        FUZZ_CHECK(!marked_problem || marked_problem->find(kMark) == std::string::npos);
      }
    }
    if (problem) continue;  // resolve_settings would stop at the same check
    magic_link::DirectiveValues values;
    if (spec.directive != "magic_link_secret") values.set("magic_link_secret", {kSecret});
    values.set(spec.directive, args);
    const auto resolved = magic_link::resolve_settings(values, no_env, "/usr/share/templates");
    check_resolved(resolved);
    if (spec.directive != "magic_link_secret") FUZZ_CHECK(resolved.settings.has_value());
  }

  // The same pieces as an environment: NAME=value (first one wins, as in an env file reader).
  std::map<std::string, std::string, std::less<>> env;
  for (const auto& arg : args) {
    const auto eq = arg.find('=');
    if (eq != std::string::npos && eq > 0) env.emplace(arg.substr(0, eq), arg.substr(eq + 1));
  }
  const auto from_env = [&env](std::string_view name) -> std::optional<std::string> {
    const auto found = env.find(name);
    if (found == env.end()) return std::nullopt;
    return found->second;
  };
  check_resolved(magic_link::resolve_settings(magic_link::DirectiveValues{}, from_env,
                                              "/usr/share/templates"));
  return 0;
}
