// The location gate (magic_link_require): whose Directus session a request carries. Decided on
// the event loop from what is in memory where it can be (a session JWT's signature and expiry,
// a remembered check); Directus' database is looked at on the thread pool at most once per
// magic_link_session_cache for each session.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/settings.h"
#include "core/crypto/jwt.h"
#include "core/flows/outcome.h"
#include "core/ports/backends.h"
#include "core/render/templates.h"

namespace magic_link {

// The two Directus cookies a browser may hold.
struct GateCookies {
  std::string session_jwt;    // directus_session_token (session mode, the Data Studio)
  std::string refresh_token;  // directus_refresh_token (cookie mode)
};

// The key under which the gate remembers what it learnt of a cookie: SHA-256 of its value, so
// memory never holds a usable token, and a remembered session cookie is not verified again.
std::string session_cache_key(std::string_view cookie_value);

// The directus_sessions row a request names.
struct NamedSession {
  std::string row_token;
  std::string cache_key;       // of the cookie it was read from
  std::time_t expires_at = 0;  // a session cookie's own expiry (0: a refresh cookie's has none)
};

// Checked without a backend: a session cookie counts only when it is a JWT signed with Directus'
// secret and not expired (it names its row); a refresh cookie is its row's token. The session
// cookie is preferred when both are there.
std::optional<NamedSession> named_session(const Settings& settings, const GateCookies& cookies,
                                          std::time_t now);

// What the gate knows of a session after looking: a live row (and whose), or none.
struct KnownSession {
  bool live = false;
  SessionOwner owner;
  std::time_t expires_at = 0;  // when the cookie itself stops counting (0: never)
};

// On a pool thread: what Directus' database says of the row now.
struct SessionCheck {
  KnownSession session;
  std::optional<BackendFailure> failure;
};
SessionCheck check_session(const std::string& row_token, Backends backends);

enum class GateVerdict {
  pass,       // a live session of an active user in an allowed role
  sign_in,    // no session, or not a live one
  forbidden,  // signed in, but the user is not active or not in magic_link_require_roles
};
GateVerdict gate_verdict(const Settings& settings, const KnownSession& session, std::time_t now);

// Where a browser that must sign in goes: magic_link_sign_in_url with `return` set to the path
// and query it asked for, when that is a safe return target (else without).
std::string sign_in_location(const Settings& settings, std::string_view path_and_query);

// The answers to a request the gate refuses: a page for browsers, the contract's JSON otherwise.
Response gate_refusal(const Settings& settings, const Templates& templates, GateVerdict verdict,
                      bool browser);

}  // namespace magic_link
