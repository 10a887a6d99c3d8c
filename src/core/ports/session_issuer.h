// Directus sessions, created the way Directus itself refreshes them: never by signing its JWTs.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "core/config/settings.h"

namespace magic_link {

enum class SessionMode {
  json,     // tokens in the JSON answer (the API flow)
  cookie,   // refresh token in Directus' HttpOnly cookie `directus_refresh_token`
  session,  // the Data Studio's `directus_session_token` cookie (Directus 10.10+)
};

// A directus_sessions row to exchange for a session, and whose it is (session mode names the
// user in its bootstrap).
struct SessionRow {
  std::string token;
  std::string user_id;
};

struct DirectusSession {
  std::string access_token;   // empty in session mode: the session cookie is the credential
  std::string refresh_token;  // empty in cookie and session mode: it travels in `set_cookies`
  long long expires_ms = 0;
  std::vector<std::string> set_cookies;  // Directus' Set-Cookie values, to relay as they are
};

// Directus answered, and said no; `code` is Directus' own error code when it gave one
// (INVALID_CREDENTIALS, USER_SUSPENDED, RESOURCE_RESTRICTED when its licence is locked, ...).
class DirectusRefused : public std::runtime_error {
 public:
  DirectusRefused(const std::string& what, std::string code = {})
      : std::runtime_error(code.empty() ? what : what + " (" + code + ")"),
        code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

class SessionIssuer {
 public:
  virtual ~SessionIssuer() = default;
  // Exchanges a session row for a real session: POST {internal URL}/auth/refresh. Throws
  // DirectusRefused, or BackendError(Backend::directus, ...) when Directus is down or slow.
  virtual DirectusSession refresh(const SessionRow& row, SessionMode mode) = 0;
  // Whose session an access token is: GET {internal URL}/users/me. Same errors as refresh.
  virtual std::string current_user_id(const std::string& access_token) = 0;
  // Ends the session that `cookie` (a `name=value` of Directus' cookie for `mode`, cookie or
  // session) stands for: POST {internal URL}/auth/logout, which deletes its row. Same errors
  // as refresh.
  virtual void logout(const std::string& cookie, SessionMode mode) = 0;
};

}  // namespace magic_link
