#include "core/crypto/jwt.h"

#include <jwt.h>

#include "core/crypto/encoding.h"
#include "core/crypto/token.h"

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <new>

namespace magic_link {
namespace {

constexpr long kBootstrapSeconds = 30;

struct JwtFree {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtFree>;

const unsigned char* key_bytes(std::string_view secret) {
  return reinterpret_cast<const unsigned char*>(secret.data());
}

std::string text_claim(jwt_t* jwt, const char* name) {
  const char* value = jwt_get_grant(jwt, name);
  return value != nullptr ? value : "";
}

// The HS256 signature checked before libjwt parses anything, so a forged cookie costs one HMAC
// (libjwt checks it again, with the rest).
bool signed_with(std::string_view secret, std::string_view token) {
  const size_t last_dot = token.rfind('.');
  if (last_dot == std::string_view::npos || token.find('.') == last_dot) return false;
  return same_secret(base64url(hmac_sha256(secret, token.substr(0, last_dot))),
                     token.substr(last_dot + 1));
}

}  // namespace

std::string bootstrap_session_jwt(std::string_view secret, const std::string& user_id,
                                  const std::string& session_token, std::time_t now) {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) throw std::bad_alloc();
  JwtPtr jwt(raw);
  const bool built =
      jwt_add_grant(jwt.get(), "id", user_id.c_str()) == 0 &&
      jwt_add_grants_json(jwt.get(), R"({"role":null,"app_access":false,"admin_access":false})") ==
          0 &&
      jwt_add_grant(jwt.get(), "session", session_token.c_str()) == 0 &&
      jwt_add_grant_int(jwt.get(), "iat", static_cast<long>(now)) == 0 &&
      jwt_add_grant_int(jwt.get(), "exp", static_cast<long>(now) + kBootstrapSeconds) == 0 &&
      jwt_add_grant(jwt.get(), "iss", "directus") == 0 &&
      jwt_set_alg(jwt.get(), JWT_ALG_HS256, key_bytes(secret), static_cast<int>(secret.size())) ==
          0;
  if (!built) throw std::bad_alloc();
  std::unique_ptr<char, decltype(&std::free)> encoded(jwt_encode_str(jwt.get()), std::free);
  if (!encoded) throw std::bad_alloc();
  return encoded.get();
}

std::optional<SessionClaims> verify_session_jwt(std::string_view secret, const std::string& token,
                                                std::time_t now) {
  if (secret.empty() || !signed_with(secret, token)) return std::nullopt;
  jwt_t* raw = nullptr;
  // With a key, libjwt checks the signature; the algorithm is checked here, so a token that
  // names another one (or none) is refused whatever libjwt would make of it.
  if (jwt_decode(&raw, token.c_str(), key_bytes(secret), static_cast<int>(secret.size())) != 0) {
    return std::nullopt;
  }
  JwtPtr jwt(raw);
  if (jwt_get_alg(jwt.get()) != JWT_ALG_HS256) return std::nullopt;
  SessionClaims claims;
  claims.user_id = text_claim(jwt.get(), "id");
  claims.role = text_claim(jwt.get(), "role");
  claims.session_token = text_claim(jwt.get(), "session");
  errno = 0;
  claims.expires_at = jwt_get_grant_int(jwt.get(), "exp");
  const bool has_expiry = errno == 0 && claims.expires_at > 0;
  if (text_claim(jwt.get(), "iss") != "directus" || claims.user_id.empty() ||
      claims.session_token.empty() || !has_expiry || claims.expires_at <= now) {
    return std::nullopt;
  }
  return claims;
}

}  // namespace magic_link
