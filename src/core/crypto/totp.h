// One-time passwords as Directus' own login checks them (otplib's authenticator: RFC 6238 TOTP,
// HMAC-SHA-1, 6 digits, 30 s steps, one step of drift either way), on liboath.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

namespace magic_link {

// Whether `code` is the one-time password of the base32 `secret` (directus_users.tfa_secret) at
// `now`, or one step before or after. Every candidate is compared, in constant time.
bool totp_matches(std::string_view secret, std::string_view code, std::time_t now);

// The code for `secret` at `now` (tests and tools); empty when the secret is not base32.
std::string totp_code(std::string_view secret, std::time_t now);

}  // namespace magic_link
