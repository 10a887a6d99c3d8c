// Directus sessions, created the way Directus itself refreshes them: never by signing its JWTs.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "core/config/settings.h"

namespace magic_link {

enum class SessionMode {
  json,    // tokens in the JSON answer (the API flow)
  cookie,  // refresh token in Directus' HttpOnly cookie (the browser flow)
};

struct DirectusSession {
  std::string access_token;
  std::string refresh_token;  // empty in cookie mode: it travels in `set_cookies`
  long long expires_ms = 0;
  std::vector<std::string> set_cookies;  // Directus' Set-Cookie values, to relay as they are
};

// Directus answered, and said no (the session row was refused, the user is not active, ...).
class DirectusRefused : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SessionIssuer {
 public:
  virtual ~SessionIssuer() = default;
  // Exchanges a session row's token for a real session: POST {internal URL}/auth/refresh.
  // Throws DirectusRefused, or BackendError(Backend::directus, ...) when Directus is down or slow.
  virtual DirectusSession refresh(const std::string& session_token, SessionMode mode) = 0;
  // Whose session an access token is: GET {internal URL}/users/me. Same errors as refresh.
  virtual std::string current_user_id(const std::string& access_token) = 0;
};

}  // namespace magic_link
