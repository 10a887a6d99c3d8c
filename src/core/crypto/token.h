// Link tokens: 256 random bits handed to the user once; only a keyed hash is ever stored.
#pragma once

#include <string>
#include <string_view>

namespace magic_link {

// 32 bytes from OpenSSL's CSPRNG, base64url without padding (43 characters).
std::string new_token();

// Whether text has the shape new_token() produces; anything else is refused before any lookup.
bool looks_like_token(std::string_view text);

// HMAC-SHA-256(secret, text), the raw 32 bytes.
std::string hmac_sha256(std::string_view secret, std::string_view text);

// HMAC-SHA-256(secret, text) in lower-case hex: what the database holds instead of the token.
std::string keyed_hash(std::string_view secret, std::string_view text);

// What the database holds for a link: keyed_hash of its token, and for a link asked for with a
// PKCE code_challenge, of the token bound to that challenge, so only the client holding the
// code_verifier can find it (no schema change: the challenge is never stored).
std::string link_hash(std::string_view secret, std::string_view token,
                      std::string_view code_challenge);

// The S256 challenge of a PKCE code_verifier (RFC 7636): base64url(SHA-256(verifier)).
std::string pkce_challenge(std::string_view code_verifier);

// Whether `text` is a PKCE code_verifier (43-128 of A-Z a-z 0-9 - . _ ~) or an S256 challenge
// (43 base64url characters).
bool looks_like_code_verifier(std::string_view text);
bool looks_like_code_challenge(std::string_view text);

// SHA-256(text), the raw 32 bytes.
std::string sha256(std::string_view text);

// SHA-256(text) in lower-case hex: how a checked 2FA secret is named to the database.
std::string sha256_hex(std::string_view text);

// Compares in time that does not depend on where the texts differ.
bool same_secret(std::string_view a, std::string_view b);

// Random URL-safe text of `bytes` random bytes, for Directus session tokens.
std::string random_text(size_t bytes);

}  // namespace magic_link
