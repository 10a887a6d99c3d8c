#include "core/flows/gate.h"

#include <algorithm>
#include <cctype>

#include "core/crypto/token.h"
#include "core/input/redirect.h"
#include "core/ports/backend_error.h"
#include "core/render/pages.h"
#include "core/render/response.h"

namespace magic_link {
namespace {

bool unreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
}

std::string percent_encoded(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (unreserved(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::string session_cache_key(std::string_view cookie_value) {
  return sha256_hex(cookie_value);
}

std::optional<NamedSession> named_session(const Settings& settings, const GateCookies& cookies,
                                          std::time_t now) {
  if (!cookies.session_jwt.empty()) {
    if (auto claims = verify_session_jwt(settings.directus_secret, cookies.session_jwt, now)) {
      return NamedSession{std::move(claims->session_token), session_cache_key(cookies.session_jwt),
                          claims->expires_at};
    }
  }
  // Directus' refresh tokens are 64 URL-safe characters; anything else names no row.
  const std::string& refresh = cookies.refresh_token;
  const bool plausible = !refresh.empty() && refresh.size() <= 128 &&
                         std::all_of(refresh.begin(), refresh.end(), [](unsigned char c) {
                           return std::isalnum(c) || c == '-' || c == '_';
                         });
  if (plausible) return NamedSession{refresh, session_cache_key(refresh), 0};
  return std::nullopt;
}

SessionCheck check_session(const std::string& row_token, Backends backends) {
  SessionCheck check;
  try {
    if (auto owner = backends.store.find_session(row_token)) {
      check.session.live = true;
      check.session.owner = std::move(*owner);
    }
  } catch (const BackendError& error) {
    check.failure = error.failure();
  }
  return check;
}

GateVerdict gate_verdict(const Settings& settings, const KnownSession& session, std::time_t now) {
  if (!session.live || (session.expires_at != 0 && now >= session.expires_at)) {
    return GateVerdict::sign_in;
  }
  if (!session.owner.active) return GateVerdict::forbidden;
  if (settings.require_roles.empty()) return GateVerdict::pass;
  const auto& chain = session.owner.role_chain;
  const bool allowed = std::any_of(chain.begin(), chain.end(), [&](const std::string& role) {
    return std::find(settings.require_roles.begin(), settings.require_roles.end(), role) !=
           settings.require_roles.end();
  });
  return allowed ? GateVerdict::pass : GateVerdict::forbidden;
}

std::string sign_in_location(const Settings& settings, std::string_view path_and_query) {
  std::string location = settings.sign_in_url;
  if (auto target = return_target(path_and_query)) {
    location += location.find('?') == std::string::npos ? '?' : '&';
    location += "return=" + percent_encoded(*target);
  }
  return location;
}

Response gate_refusal(const Settings& settings, const Templates& templates, GateVerdict verdict,
                      bool browser) {
  if (verdict == GateVerdict::forbidden) {
    if (!browser) return json_failure(403, "Access denied");
    return notice_page(settings, templates, 403, "Access denied",
                       "You are signed in, but your account may not open this page.",
                       settings.sign_in_url);
  }
  return json_failure(401, "Authentication required");
}

}  // namespace magic_link
