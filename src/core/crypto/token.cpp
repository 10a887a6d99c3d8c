#include "core/crypto/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "core/crypto/encoding.h"

namespace magic_link {
namespace {

constexpr size_t kTokenBytes = 32;
constexpr size_t kTokenLength = 43;  // base64url of 32 bytes, unpadded

std::string lower_hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * bytes.size());
  for (const unsigned char byte : bytes) {
    hex += kHex[byte >> 4];
    hex += kHex[byte & 0xf];
  }
  return hex;
}

}  // namespace

std::string random_text(size_t bytes) {
  std::vector<unsigned char> random(bytes);
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return base64url(std::string_view(reinterpret_cast<const char*>(random.data()), random.size()));
}

std::string new_token() {
  return random_text(kTokenBytes);
}

bool looks_like_token(std::string_view text) {
  return text.size() == kTokenLength && std::all_of(text.begin(), text.end(), [](unsigned char c) {
           return std::isalnum(c) || c == '-' || c == '_';
         });
}

std::string hmac_sha256(std::string_view secret, std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest,
           &length) == nullptr) {
    throw std::runtime_error("HMAC-SHA-256 failed");
  }
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string keyed_hash(std::string_view secret, std::string_view text) {
  return lower_hex(hmac_sha256(secret, text));
}

std::string link_hash(std::string_view secret, std::string_view token,
                      std::string_view code_challenge) {
  if (code_challenge.empty()) return keyed_hash(secret, token);
  return keyed_hash(secret, std::string(token) + ":pkce:" + std::string(code_challenge));
}

std::string pkce_challenge(std::string_view code_verifier) {
  return base64url(sha256(code_verifier));
}

bool looks_like_code_verifier(std::string_view text) {
  return text.size() >= 43 && text.size() <= 128 &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) {
           return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
         });
}

bool looks_like_code_challenge(std::string_view text) {
  return looks_like_token(text);  // 32 bytes in base64url, as a link token
}

std::string sha256(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string sha256_hex(std::string_view text) {
  return lower_hex(sha256(text));
}

bool same_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace magic_link
