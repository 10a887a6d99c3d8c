// Directus' session JWTs (HS256 with Directus' SECRET), through libjwt. The module signs one
// kind only: the 30-second bootstrap that Directus exchanges for its own session cookie. It
// checks Directus' session cookies at the location gate.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace magic_link {

// A bootstrap for `user_id`'s session row `session_token`, valid 30 seconds from `now`; the
// claims Directus reads are placeholders that Directus recomputes on refresh.
std::string bootstrap_session_jwt(std::string_view secret, const std::string& user_id,
                                  const std::string& session_token, std::time_t now);

// What a valid directus_session_token says: whose session, which row, until when.
struct SessionClaims {
  std::string user_id;
  std::string role;           // as Directus signed it (may be empty)
  std::string session_token;  // the directus_sessions row
  std::time_t expires_at = 0;
};

// The claims of `jwt` when it is HS256-signed with `secret`, issued by Directus, a session (not
// an access token without one) and not expired at `now`; nothing otherwise.
std::optional<SessionClaims> verify_session_jwt(std::string_view secret, const std::string& jwt,
                                                std::time_t now);

}  // namespace magic_link
